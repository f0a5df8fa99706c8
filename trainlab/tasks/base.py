"""Task: what a model's outputs mean. The loop asks the task for the loss of a batch and, at
evaluation, for metrics over a whole split."""
from __future__ import annotations

import numpy as np
import torch

from ..core.errors import RecipeError
from ..core.registry import Registry
from ..core.spec import DataSpec

TASKS = Registry("task")


@torch.inference_mode()
def infer(model, x: torch.Tensor, batch_size: int):
    """Outputs for all of x, in eval mode, batch by batch (a tuple of outputs stays a tuple)."""
    was_training = model.training
    model.eval()
    parts = [model(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]
    model.train(was_training)
    if isinstance(parts[0], tuple):
        return tuple(torch.cat(p) for p in zip(*parts))
    return torch.cat(parts)


class Task:
    name = "task"
    manual = False      # True: `manual_step` runs backward and the optimisers itself (a GAN's two players)
    supervised = False  # predicts a label or value per sample: calibration, error lists and classical baselines apply
    graph_safe = False  # training_step is device work only (no host reads, no host randomness): CUDA-graph capturable
    written_gradient = False  # loss_gradient is written out (the engine's analytic MLP step may use it)

    def __init__(self, spec: DataSpec):
        self.spec = spec

    def output_size(self) -> int:
        raise NotImplementedError

    def target_dtype(self) -> torch.dtype:
        raise NotImplementedError

    def loss(self, outputs: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def loss_gradient(self, outputs: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(the loss, d loss / d outputs) without autograd, when `written_gradient` (see engine/analytic.py)."""
        raise NotImplementedError

    def training_step(self, model, x, y) -> torch.Tensor:
        """Override for tasks whose step is not `loss(model(x), y)`."""
        return self.loss(model(x), y)

    def optimizers(self, model, build) -> list:
        """The optimisers, each made by `build(parameters)` from the recipe's [optim] section."""
        return [build(model.parameters())]

    def manual_step(self, model, x, y, optimizers, backward) -> dict[str, torch.Tensor]:
        """One step that zeroes, back-propagates (with `backward(loss)`) and steps by itself;
        returns the losses to log ("loss" first). Only called when `manual` is True."""
        raise NotImplementedError

    def adapt(self, data):
        """The prepared data this task trains on (e.g. anomaly detection drops the held-out classes
        from training and validation). Default: unchanged."""
        return data

    def validate(self, model, x, y, batch_size: int) -> dict[str, torch.Tensor]:
        """Validation loss ("loss", the early-stopping criterion) and quick metrics, as device tensors."""
        out = infer(model, x, batch_size)
        return {"loss": self.loss(out, y), **self.quick_metrics(out, y)}

    def epoch_pictures(self, model) -> dict[str, np.ndarray] | None:
        """Arrays saved after every epoch (a GAN's samples from fixed noise); None for none."""
        return None

    def test(self, model, x, y, batch_size: int) -> dict:
        """The one test evaluation."""
        return self.test_metrics(infer(model, x, batch_size), y)

    def pictures(self, model, data, device) -> dict[str, np.ndarray]:
        """Arrays for the report, computed once after the test (samples, latent maps, densities)."""
        return {}

    # what validate() returns besides "loss", and which way is better: train.early_stopping.monitor
    # may name any of them ("val_accuracy")
    validation_keys: dict[str, str] = {}

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


def monitored(task: str, monitor: str) -> str:
    """Which way `monitor` (train.early_stopping.monitor) improves for the task named `task`: "min"
    or "max"; a RecipeError when the task does not validate it."""
    def classes(c):
        return [c, *(d for s in c.__subclasses__() for d in classes(s))]

    cls = next(c for c in classes(Task) if c.name == task)
    keys = {"val_loss": "min", **{f"val_{k}": way for k, way in cls.validation_keys.items()}}
    if monitor not in keys:
        raise RecipeError(f"train.early_stopping.monitor = {monitor!r}: the {task} task validates "
                          f"{', '.join(keys)} every epoch; choose one of them.")
    return keys[monitor]


def resolve_task_name(name: str, spec: DataSpec) -> str:
    if name != "auto":
        return name
    return {"class": "classification", "real": "regression", "sequence": "seq2seq", "mask": "segmentation"}[spec.target]
