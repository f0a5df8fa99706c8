"""What bounds a recipe's training step on a GPU: counted on any machine (the CPU will do), not timed.

For one training step (forward, loss, backward) of the recipe's model on its first training batch
it counts
  - FLOPs of matrix products and convolutions (PyTorch's FlopCounterMode);
  - bytes every operator reads and writes if nothing were fused (each tensor argument and result,
    at 2 bytes per element for bf16 autocast or 4 for fp32): an upper bound on memory traffic;
  - operator calls other than views: about one kernel launch each, unless the step is captured as
    a CUDA graph (the optimiser's few fused launches are left out, as are its FLOPs and bytes).
Then it prints one JSON line with the per-sample figures and, for a GPU's peak rates, the time per
step each resource alone would need (the roofline). The largest is the bound.
Usage: python benchmarks/roofline.py [--recipe recipes/tp2-model3.toml] [--batch 512]
       [--tflops 989] [--tbytes 3.35] [--bytes-per-element 2]   (defaults: H100 SXM, bf16 dense)"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from trainlab.core.config import load_recipe  # noqa: E402
from trainlab.data.prepare import prepare_config  # noqa: E402
from trainlab.engine.cost import step_cost  # noqa: E402
from trainlab.procedure import _build  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--recipe", type=Path, default=REPO / "recipes" / "tp2-model3.toml")
    ap.add_argument("--batch", type=int, default=0, help="default: the recipe's batch size")
    ap.add_argument("--tflops", type=float, default=989.0, help="peak dense TFLOP/s (H100 SXM bf16: 989)")
    ap.add_argument("--tbytes", type=float, default=3.35, help="memory bandwidth in TB/s (H100 SXM: 3.35)")
    ap.add_argument("--launch-us", type=float, default=4.0, help="seconds per kernel launch, in microseconds")
    ap.add_argument("--bytes-per-element", type=int, default=2, help="2 for bf16 autocast, 4 for fp32")
    args = ap.parse_args()

    recipe = load_recipe(args.recipe)
    data = prepare_config(recipe.data, recipe.seed)
    task, model = _build(recipe, data, recipe.seed)
    data = task.adapt(data)
    batch = args.batch or recipe.train.batch_size
    cost = step_cost(task, model, data, batch)
    f, b, kernels = cost["flops"], cost["elements"] * args.bytes_per_element, cost["kernels"]
    bounds = {"flops": f / (args.tflops * 1e12), "bytes": b / (args.tbytes * 1e12), "launches": kernels * args.launch_us * 1e-6}
    out = {
        "bench": "roofline", "recipe": args.recipe.name, "batch": batch, "input": list(data.spec.input_shape),
        "torch": torch.__version__,
        "parameters": sum(p.numel() for p in model.parameters()),
        "gflop_per_step": round(f / 1e9, 3), "mflop_per_sample": round(f / batch / 1e6, 2),
        "unfused_mbytes_per_sample": round(b / batch / 1e6, 3), "operator_calls_per_step": kernels,
        "flop_per_byte": round(f / b, 1),
        "peak": {"tflops": args.tflops, "tbytes_per_s": args.tbytes, "launch_us": args.launch_us},
        "seconds_per_step_if_bound_by": {k: float(f"{v:.3g}") for k, v in bounds.items()},
        "samples_per_second_at_bound": {k: round(batch / v) for k, v in bounds.items()},
        "bound": max(bounds, key=bounds.get),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
