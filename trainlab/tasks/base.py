"""Task: what a model's outputs mean. The loop asks the task for the loss of a batch and, at
evaluation, for metrics over a whole split."""
from __future__ import annotations

import torch

from ..core.registry import Registry
from ..core.spec import DataSpec

TASKS = Registry("task")


class Task:
    name = "task"

    def __init__(self, spec: DataSpec):
        self.spec = spec

    def output_size(self) -> int:
        raise NotImplementedError

    def target_dtype(self) -> torch.dtype:
        raise NotImplementedError

    def loss(self, outputs: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def training_step(self, model, x, y) -> torch.Tensor:
        """Override for tasks whose step is not `loss(model(x), y)`."""
        return self.loss(model(x), y)

    def quick_metrics(self, outputs: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        """Cheap validation metrics computed every epoch (as device tensors: no host sync)."""
        return {}

    def test_metrics(self, outputs: torch.Tensor, y: torch.Tensor) -> dict:
        """Full metrics for the one test evaluation (plain Python values, JSON-ready)."""
        raise NotImplementedError

    def state(self) -> dict:
        """Parameters that must be stored with the run to rebuild the task for prediction."""
        return {}


def build_task(name: str, spec: DataSpec, params: dict, **context) -> Task:
    name = resolve_task_name(name, spec)
    entry = TASKS.get(name)
    return entry.build(spec, context, **entry.validate(params, "task"))


def resolve_task_name(name: str, spec: DataSpec) -> str:
    if name != "auto":
        return name
    return {"class": "classification", "real": "regression", "sequence": "seq2seq"}[spec.target]
