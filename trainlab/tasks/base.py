"""Task: what a model's outputs mean. The loop asks the task for the loss of a batch and, at
evaluation, for metrics over a whole split."""
from __future__ import annotations

import numpy as np
import torch

from ..core.errors import RecipeError
from ..core.registry import Registry, named
from ..core.spec import DataSpec

TASKS = Registry("task")
# a user's losses (trainlab.register_loss in a plugin): fn(outputs, targets, *, keys) → a scalar tensor; a
# task names one as task.loss = "name", or with its keys as task.loss = { name = "name", key = value }
LOSSES = Registry("loss")


def loss_key(builtins: tuple[str, ...]):
    """The type of a task's `loss` key: one of its own losses, or a registered one (by name, or as a
    table with its keys), checked when the recipe is."""
    from typing import Annotated, Union

    from pydantic import AfterValidator

    def check(value):
        name, keys = named(value)
        if name in builtins and not keys:
            return name
        if not isinstance(name, str) or name not in LOSSES:
            mine = f"; registered: {', '.join(LOSSES.names())}" if LOSSES.names() else \
                " (or your own: trainlab.register_loss in a plugin file)"
            raise ValueError(f"{name!r} is not a loss of this task: {', '.join(builtins)}{mine}")
        keys = LOSSES.get(name).validate(keys, "task.loss")
        return value if isinstance(value, str) else {"name": name, **keys}

    return Annotated[Union[str, dict], AfterValidator(check)]


def user_loss(value, builtins: tuple[str, ...], outputs: torch.Tensor, targets: torch.Tensor):
    """A registered loss as a function of (outputs, targets), its keys bound, once it has shown on a
    batch shaped as training will give it (these `outputs` and `targets`) that it returns a finite
    scalar with a gradient; None for one of the task's own losses (`builtins`)."""
    import functools

    name, keys = named(value)
    if name in builtins:
        return None
    entry = LOSSES.get(name)  # its keys were checked with the recipe's (loss_key)
    fn = functools.partial(entry.fn, **keys)
    outputs = outputs.clone().requires_grad_(True)
    where = f"Loss {name!r} ({entry.where})"
    try:
        loss = fn(outputs, targets)
    except Exception as err:
        raise RecipeError(f"{where} fails on outputs of shape {list(outputs.shape)} and targets of shape "
                          f"{list(targets.shape)} ({targets.dtype}): {type(err).__name__}: {err}") from None
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1 or loss.grad_fn is None or not torch.isfinite(loss):
        got = f"shape {list(loss.shape)}" + ("" if loss.grad_fn is not None else ", no gradient") \
            if isinstance(loss, torch.Tensor) else type(loss).__name__
        raise RecipeError(f"{where} returned {got} for outputs of shape {list(outputs.shape)}; a loss returns one "
                          "finite number (a scalar tensor) computed from the outputs, e.g. a mean over the batch.")
    return fn


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

    # what a model's output holds per sample, for a user's model to be checked against before training
    # (a shape and what it means), or None where the task's models have an interface of their own
    def output_shape(self) -> tuple[tuple[int, ...], str] | None:
        return None

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

    # unsupervised tasks that tell how unusual an input is for the model (a flow's NLL, an autoencoder's
    # reconstruction error): what `trainlab predict` gives per input, beside where it falls among the
    # test samples' (their percentiles, stored with the test metrics)
    surprise_name = ""

    def surprise(self, model, x: torch.Tensor, batch_size: int) -> np.ndarray:
        """(N,) how unusual each (normalised) input is for the model; higher: more unusual."""
        raise NotImplementedError


def surprise_summary(scores: np.ndarray) -> dict:
    """The test samples' scores as the test metrics keep them: their 0th..100th percentiles (where a new
    input's score falls among them) and how many they are (how sure those percentiles are)."""
    return {"surprise_percentiles": np.percentile(np.asarray(scores, np.float64), np.arange(101)).tolist(),
            "surprise_samples": len(scores)}


def percentile_rank(score: np.ndarray, of: list[float]) -> np.ndarray:
    """The share (0-100) of the test samples whose score is below each of `score`, from their percentiles."""
    return np.interp(score, of, np.arange(101.0), left=0.0, right=100.0)


UNUSUAL = 99  # an input scored above this percentile of the test samples' is unusual for the model


def unusual(rank: np.ndarray) -> tuple[np.ndarray, float]:
    """Inputs at these percentiles (percentile_rank) → (which are unusual, the p-value of a binomial test that
    more are than the (100 - UNUSUAL)% that inputs like the test samples would be)."""
    from scipy import stats

    odd = np.asarray(rank) > UNUSUAL
    return odd, float(stats.binomtest(int(odd.sum()), len(odd), 1 - UNUSUAL / 100, alternative="greater").pvalue)


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
