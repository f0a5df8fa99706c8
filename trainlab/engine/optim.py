"""Optimiser and learning-rate schedule registries. Optimisers update all parameters with
multi-tensor (foreach) kernels: the same arithmetic as the per-tensor loop, fewer launches."""
from __future__ import annotations

from typing import Annotated

import torch
from pydantic import Field

from ..core.registry import Count, Fraction, NonNegative, Positive, Registry, Size

OPTIMIZERS = Registry("optimizer")
SCHEDULES = Registry("schedule")


def build_optimizer(entry, parameters, params: dict):
    """The optimiser `entry` over `parameters` with the recipe's (validated) `params`; what it refuses
    (Nesterov momentum without momentum, a user's optimiser's own checks) is a recipe error naming them."""
    from ..core.errors import RecipeError

    try:
        return entry.build(parameters, **params)
    except ValueError as err:
        settings = ", ".join(f"{k} = {v!r}" for k, v in params.items())
        raise RecipeError(f"optim: {entry.name!r} refuses these settings ({settings}): {err}.") from None


@OPTIMIZERS.register("sgd")
def sgd(params, *, lr: Positive = 0.01, momentum: Fraction = 0.0, nesterov: bool = False,
        weight_decay: NonNegative = 0.0):
    """Mini-batch stochastic gradient descent, with optional (Nesterov) momentum."""
    return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay, foreach=True)


@OPTIMIZERS.register("adagrad")
def adagrad(params, *, lr: Positive = 0.01, weight_decay: NonNegative = 0.0, eps: NonNegative = 1e-10):
    """Adagrad: per-parameter rates scaled by accumulated squared gradients."""
    return torch.optim.Adagrad(params, lr=lr, weight_decay=weight_decay, eps=eps, foreach=True)


@OPTIMIZERS.register("rmsprop")
def rmsprop(params, *, lr: Positive = 0.001, alpha: Fraction = 0.99, momentum: Fraction = 0.0,
            weight_decay: NonNegative = 0.0, eps: NonNegative = 1e-8):
    """RMSProp: rates scaled by a moving average of squared gradients."""
    return torch.optim.RMSprop(params, lr=lr, alpha=alpha, momentum=momentum, weight_decay=weight_decay, eps=eps, foreach=True)


@OPTIMIZERS.register("adam")
def adam(params, *, lr: Positive = 0.001, betas: tuple[Fraction, Fraction] = (0.9, 0.999),
         weight_decay: NonNegative = 0.0, eps: NonNegative = 1e-8, amsgrad: bool = False):
    """Adam: momentum and RMSProp with bias correction."""
    return torch.optim.Adam(params, lr=lr, betas=tuple(betas), weight_decay=weight_decay, eps=eps, amsgrad=amsgrad, foreach=True)


@OPTIMIZERS.register("adamw")
def adamw(params, *, lr: Positive = 0.001, betas: tuple[Fraction, Fraction] = (0.9, 0.999),
          weight_decay: NonNegative = 0.01, eps: NonNegative = 1e-8):
    """AdamW: Adam with decoupled weight decay."""
    return torch.optim.AdamW(params, lr=lr, betas=tuple(betas), weight_decay=weight_decay, eps=eps, foreach=True)


# A schedule builder returns (scheduler or None, when it steps: "epoch" | "step" | "plateau").

@SCHEDULES.register("none")
def constant(optimizer, context: dict):
    """A constant learning rate."""
    return None, "epoch"


@SCHEDULES.register("step")
def step(optimizer, context: dict, *, step_size: Count = 10, gamma: Positive = 0.1):
    """Multiply the rate by gamma every step_size epochs."""
    return torch.optim.lr_scheduler.StepLR(optimizer, step_size=step_size, gamma=gamma), "epoch"


def _warm(step: int, warmup: int) -> float:
    """The linear warm-up's factor: 1/warmup, 2/warmup, ... up to 1 over the first `warmup` steps."""
    return min(1.0, (step + 1) / warmup) if warmup > 0 else 1.0


def _decayed(step: int, warmup: int, total: int) -> float:
    """How far the decay after the warm-up has gone at `step`: 0 at its start, 1 at the last step."""
    return min(max(step - warmup, 0), total - warmup) / max(total - warmup, 1)


@SCHEDULES.register("cosine")
def cosine(optimizer, context: dict, *, min_lr: NonNegative = 0.0, warmup: Size = 0):
    """Cosine decay from the initial rate to min_lr over all training steps, after `warmup` steps of
    linear warm-up (transformers: a few hundred)."""
    import math

    total = context["epochs"] * context["steps_per_epoch"]

    def factor(step: int, base: float = float(optimizer.param_groups[0]["lr"])) -> float:
        # closed form (the recursive CosineAnnealingLR reads the current rate back: a host sync per
        # step when the rate is a device tensor, as in a CUDA-graph step)
        floor = min_lr / base if base else 0.0
        return _warm(step, warmup) * (floor + (1 - floor) * (1 + math.cos(math.pi * _decayed(step, warmup, total))) / 2)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor), "step"


@SCHEDULES.register("linear")
def linear(optimizer, context: dict, *, min_lr: NonNegative = 0.0, warmup: Size = 0):
    """Linear warm-up over `warmup` steps, then linear decay to min_lr at the last step (the schedule
    BERT-style encoders are fine-tuned with)."""
    total = context["epochs"] * context["steps_per_epoch"]

    def factor(step: int, base: float = float(optimizer.param_groups[0]["lr"])) -> float:
        floor = min_lr / base if base else 0.0
        return _warm(step, warmup) * (1 - (1 - floor) * _decayed(step, warmup, total))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor), "step"


@SCHEDULES.register("onecycle")
def onecycle(optimizer, context: dict, *, max_lr: NonNegative = 0.0,
             pct_start: Annotated[float, Field(gt=0, le=1)] = 0.25):
    """One-cycle: warm up to max_lr (default: the optimiser's rate), then anneal (Smith, 2018)."""
    import math

    base = float(optimizer.param_groups[0]["lr"])
    peak = (max_lr or base) / base if base else 0.0  # rates in units of the optimiser's own
    total = context["epochs"] * context["steps_per_epoch"]
    start, floor = peak / 25, peak / 25 / 1e4  # torch's OneCycleLR: div_factor 25, final_div_factor 1e4
    warm_end = pct_start * total - 1

    def anneal(a: float, b: float, pct: float) -> float:
        return b + (a - b) / 2 * (1 + math.cos(math.pi * min(max(pct, 0.0), 1.0)))

    def factor(step: int) -> float:
        # torch's OneCycleLR in closed form, also when the warm-up is shorter than one step (there
        # torch divides by zero: fast-fashion for one epoch on a slice of the data)
        if step <= warm_end and warm_end > 0:
            return anneal(start, peak, step / warm_end)
        return anneal(peak, floor, (step - warm_end) / max(total - 1 - warm_end, 1e-12))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor), "step"


@SCHEDULES.register("plateau")
def plateau(optimizer, context: dict, *, factor: Annotated[float, Field(gt=0, lt=1)] = 0.1, patience: Size = 2,
            min_lr: NonNegative = 0.0):
    """Reduce the rate by factor when the validation loss stops improving."""
    return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=factor, patience=patience,
                                                      min_lr=min_lr), "plateau"
