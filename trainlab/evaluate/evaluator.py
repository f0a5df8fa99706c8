"""The test split is touched once, after training, by the best checkpoint."""
from __future__ import annotations

import time

import torch

from ..engine.loop import infer


def evaluate_test(model, task, data, device, batch_size: int) -> dict:
    s = data.split
    x = torch.as_tensor(s.x_test).to(device)
    y = torch.as_tensor(s.y_test).to(device, task.target_dtype())
    t0 = time.perf_counter()
    out = infer(model, x, batch_size)
    metrics = task.test_metrics(out, y)
    metrics["inference_seconds"] = time.perf_counter() - t0
    return metrics
