"""What test-time mirror averaging (eval.tta = "flip") adds to a finished image-classification run:
the run's best network on its own test split, re-split from its recipe, with and without the mirror.
Prints one JSON line. Usage: python benchmarks/tta_gain.py RUN_DIR"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trainlab.data.prepare import prepare_from_recipe  # noqa: E402
from trainlab.evaluate.tta import MirrorAverage  # noqa: E402
from trainlab.serve.predictor import Predictor  # noqa: E402


@torch.inference_mode()
def accuracy(model, x, y) -> float:
    pred = torch.cat([model(x[i:i + 1000]).argmax(1) for i in range(0, len(x), 1000)])
    return float((pred == y).float().mean())


def main():
    p = Predictor(sys.argv[1])
    s = prepare_from_recipe(p.recipe, p.meta["seed"]).split
    x, y = torch.as_tensor(s.x_test), torch.as_tensor(s.y_test)
    plain, mirrored = accuracy(p.network, x, y), accuracy(MirrorAverage(p.network), x, y)
    print(json.dumps({"bench": "tta_gain", "run": Path(sys.argv[1]).name, "test_samples": len(y),
                      "accuracy": round(plain, 4), "accuracy_flip_tta": round(mirrored, 4),
                      "gain_points": round(100 * (mirrored - plain), 2)}))


if __name__ == "__main__":
    main()
