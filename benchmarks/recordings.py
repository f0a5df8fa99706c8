"""Write the recordings this repository's series figures (benchmarks/RESULTS.md, README) are measured on,
from scikit-learn's digits (real data, bundled): each digit image is 8 steps (its rows) of 8 values.

    python benchmarks/recordings.py OUT_DIR

- recordings.csv: 179 recordings of 10 random digits one after the other, one row a step (80 rows each),
  the digit as a label per row; columns recording, step, p0..p7, digit.
- recs.npz: 170 recordings (N, 80, 8) of 10 digits of one class, that class their label; every 7th ends
  after 60 steps (NaN after).
- recs_test.npz: the same recordings, the last 40 as the official test set (x_test, y_test).
- steps.npz: recordings.csv's recordings as arrays, x (179, 80, 8) and a label per step, y (179, 80).
"""
from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits


def write(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    d = load_digits()
    order = np.random.default_rng(1).permutation(len(d.images))[:1790].reshape(179, 10)
    with open(out / "recordings.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["recording", "step", *(f"p{j}" for j in range(8)), "digit"])
        w.writerows([f"rec{r}", k * 8 + t, *d.images[i, t].tolist(), int(d.target[i])]
                    for r in range(179) for k, i in enumerate(order[r]) for t in range(8))
    np.savez(out / "steps.npz", x=d.images[order].reshape(179, 80, 8).astype(np.float32),
             y=np.repeat(d.target[order], 8, axis=1))
    rng = np.random.default_rng(2)
    idx = np.concatenate([rng.permutation(np.flatnonzero(d.target == c))[:170].reshape(17, 10) for c in range(10)])
    idx = idx[rng.permutation(len(idx))]  # 170 recordings, the classes mixed
    x, y = d.images[idx].reshape(170, 80, 8).astype(np.float32), d.target[idx[:, 0]]
    x[::7, 60:] = np.nan
    np.savez(out / "recs.npz", x=x, y=y)
    np.savez(out / "recs_test.npz", x=x[:130], y=y[:130], x_test=x[130:], y_test=y[130:])


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    write(Path(sys.argv[1]))
    print(f"wrote recordings.csv, recs.npz, recs_test.npz and steps.npz in {sys.argv[1]}")
