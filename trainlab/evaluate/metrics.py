"""Metrics of your own. A field has the scores its papers report (sensitivity at a fixed specificity,
a quadratic-weighted κ for grades, Spearman's ρ for rankings); `trainlab.register_metric` in a plugin
file adds one, and the recipe's `eval.metrics` names it. It is computed on the test predictions of the
network and of every baseline, with a bootstrap interval over the test samples and its mean ± std over
repeats, and it is compared, reported and indexed like trainlab's own metrics.

A metric is fn(true, pred, scores, *, keys) → a number: for classes, `true` and `pred` are class
indices (N,) and `scores` the predicted probabilities (N, K); for values, `true` and `pred` are in the
target's units, (N,) for one target and (N, T) for several, and `scores` is None."""
from __future__ import annotations

import functools
import logging
import math
from typing import Callable

import numpy as np

from ..core.errors import RecipeError, RegistryError
from ..core.registry import Registry, named
from ..data.sources import finite_number

log = logging.getLogger("trainlab")

METRICS = Registry("metric")
# what trainlab's tasks write into a run's test metrics: a metric of one's own takes another name
RESERVED = {"loss", "accuracy", "balanced_accuracy", "f1_macro", "mcc", "cohen_kappa", "precision_macro",
            "recall_macro", "average_precision_macro", "roc_auc", "r2", "rmse", "mae", "mse", "share_below_prediction",
            "threshold", "threshold_by", "inference_seconds", "confusion_matrix", "per_class", "pr_curves",
            "calibration", "bootstrap", "errors", "residuals", "user_metrics"}


def register(name: str, *, higher_is_better: bool = True) -> Callable:
    """`@trainlab.register_metric("name")` (or with `higher_is_better=False`, for an error or a cost):
    fn(true, pred, scores, *, keys) → a number."""
    if name in RESERVED:
        raise RegistryError(f"Metric {name!r} is one of trainlab's own; register yours under another name.")

    def decorator(fn: Callable) -> Callable:
        fn.higher_is_better = higher_is_better
        return METRICS.register(name)(fn)

    return decorator


def resolved(values: list) -> list:
    """The recipe's eval.metrics checked against the registry, each with its keys filled in: a name, or
    a table of a name and its keys. Fails before any data is read."""
    out, seen = [], set()
    for value in values:
        name, keys = named(value)
        if not isinstance(name, str) or name not in METRICS:
            mine = f"registered: {', '.join(METRICS.names())}" if METRICS.names() else \
                "none is registered (trainlab.register_metric in a plugin file the recipe names)"
            raise RecipeError(f"eval.metrics: {name!r} is not a metric; {mine}.")
        if name in seen:
            raise RecipeError(f"eval.metrics names {name!r} twice; a metric is one column of the results.")
        seen.add(name)
        keys = METRICS.get(name).validate(keys, "eval.metrics")
        keys = {k: list(v) if isinstance(v, tuple) else v for k, v in keys.items() if v is not None}
        out.append({"name": name, **keys} if keys else name)
    return out


def names(values) -> list[str]:
    return [named(v)[0] for v in values]


def bound(values) -> dict[str, Callable]:
    """name → fn(true, pred, scores) with its keys bound, for each of the recipe's eval.metrics."""
    return {name: functools.partial(METRICS.get(name).fn, **keys) for name, keys in map(named, values)}


def about(values) -> dict:
    """What a run's metrics.json says of them: which way is better, and where each is defined."""
    return {n: {"higher_is_better": METRICS.get(n).fn.higher_is_better, "source": METRICS.get(n).where}
            for n in names(values)}


def check(values, task: str, target: str, num_classes: int, num_targets: int = 1) -> None:
    """Each metric tried, before training, on made-up predictions shaped as the test's will be: one that
    fails or returns anything but a finite number is an error now, not after the training."""
    if not values:
        return
    if task not in ("classification", "regression"):
        raise RecipeError(f"eval.metrics ({', '.join(names(values))}) score predicted classes or values; the "
                          f"{task} task predicts neither (its own metrics are in its report).")
    n = 40
    if target == "class":
        true = np.arange(n) % num_classes
        pred = np.where(np.arange(n) % 4 == 0, (true + 1) % num_classes, true)
        scores = np.full((n, num_classes), 0.2 / max(num_classes - 1, 1))
        scores[np.arange(n), pred] = 0.8
    else:
        true = np.linspace(0.0, 1.0, n * num_targets).reshape(n, num_targets)  # (N,) for one target
        true = true[:, 0] if num_targets == 1 else true
        pred, scores = true + np.sin(np.arange(true.size)).reshape(true.shape) * 0.1, None
    for name, fn in bound(values).items():
        where = f"Metric {name!r} ({METRICS.get(name).where})"
        try:
            value = fn(true, pred, scores)
        except Exception as err:
            raise RecipeError(f"{where} fails on {n} made-up {'classes' if target == 'class' else 'values'} "
                              f"(true and pred of shape {list(true.shape)}, scores "
                              f"{'of shape ' + str(list(scores.shape)) if scores is not None else 'None'}): "
                              f"{type(err).__name__}: {err}") from None
        if finite_number(value) is None:
            raise RecipeError(f"{where} returned {value!r} ({type(value).__name__}); a metric returns one finite "
                              "number.")


def compute(fns: dict, true, pred, scores, what: str = "the test predictions") -> dict:
    """Each metric on these predictions; one that fails here (it passed `check`) is left out with a
    warning rather than losing the trained run."""
    out = {}
    for name, fn in fns.items():
        try:
            value = finite_number(fn(true, pred, scores))
        except Exception as err:
            log.warning("metric %r failed on %s and is left out: %s: %s", name, what, type(err).__name__, err)
            continue
        if value is None:
            log.warning("metric %r is not a finite number on %s and is left out", name, what)
            continue
        out[name] = value
    return out


def resampled(fns: dict, true, pred, scores) -> dict:
    """name → fn(indices) → the metric on those test samples (nan where it cannot be computed, e.g. a
    resample without a class), for the bootstrap."""
    def one(fn, idx):
        try:
            value = finite_number(fn(true[idx], pred[idx], None if scores is None else scores[idx]))
        except Exception:
            return math.nan
        return math.nan if value is None else value

    return {name: functools.partial(one, fn) for name, fn in fns.items()}
