"""Near-duplicates on Fashion-MNIST: the real pairs of its official test and training sets, the time the
search takes, and how many planted copies it finds (training images moved by 1-2 pixels, and mirrored
left-right and moved, put in place of test images: the copies a flip and a crop made before the split
leave). Prints one JSON line. Usage: python benchmarks/near_duplicates.py [--planted 40]"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trainlab.data.datasets import DATASETS  # noqa: E402
from trainlab.data.split import near_duplicates  # noqa: E402


def moved(a: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """The image moved down by dy and right by dx pixels, zeros where it uncovers."""
    out, (h, w) = np.zeros_like(a), a.shape[-2:]
    out[..., max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        a[..., max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--planted", type=int, default=40, help="copies of each kind planted")
    n = ap.parse_args().planted
    raw = DATASETS.get("fashion_mnist").build()
    train, test = raw.x[:, None], raw.x_test[:, None].copy()
    t0 = time.perf_counter()
    real = near_duplicates(test, train)
    seconds = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    pick = rng.choice(len(train), 2 * n, replace=False)
    for k, i in enumerate(pick):
        dy, dx = (int(v) for v in rng.integers(-2, 3, 2))
        test[k] = moved(train[i][..., ::-1] if k >= n else train[i], dy, dx or (0 if dy else 1))
    found = {j: i for j, i, _, _ in near_duplicates(test, train)}
    print(json.dumps({"bench": "near_duplicates", "real_pairs": len(real), "seconds": round(seconds, 2),
                      "planted_shifted_found": int(sum(found.get(k) == pick[k] for k in range(n))),
                      "planted_mirrored_shifted_found": int(sum(found.get(k) == pick[k] for k in range(n, 2 * n))),
                      "planted_each": n}))


if __name__ == "__main__":
    main()
