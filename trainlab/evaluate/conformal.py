"""How far can one prediction be trusted? Split-conformal prediction (Vovk et al.; Angelopoulos and
Bates, 2021) turns the errors on held-out samples into a guarantee: with `eval.conformal = 0.9`, each
prediction comes with an interval (values) or a set of classes that holds the truth for 90% of new
samples like these, whatever the model. The run fits it on held-out samples, checks it on the test set
(the coverage reached, the width or set size paid), and predict and serve give it with every prediction.

The guarantee needs samples the model was not chosen on: data.calibration_fraction holds out a
calibration split for it. Without one the validation split serves, which also chose the kept epoch,
so the guarantee is approximate; the test coverage says how well it held."""
from __future__ import annotations

import math

import numpy as np


def _quantile(scores: np.ndarray, coverage: float) -> float:
    """The ⌈(n + 1)·coverage⌉-th smallest of n scores: the conformal quantile (inf when n is too small)."""
    n = len(scores)
    k = math.ceil((n + 1) * coverage)
    return float(np.sort(scores)[k - 1]) if k <= n else math.inf


def fit_values(true_fit: np.ndarray, pred_fit: np.ndarray, true: np.ndarray, pred: np.ndarray, coverage: float,
               fitted_on: str = "validation") -> dict:
    """Intervals pred ± q, q the conformal quantile of the absolute errors on the split `fitted_on`."""
    q = _quantile(np.abs(true_fit - pred_fit), coverage)
    if not math.isfinite(q):
        return _record(coverage, len(true_fit), fitted_on, too_few=True)
    return {**_record(coverage, len(true_fit), fitted_on), "half_width": q,
            "test_coverage": float(np.mean(np.abs(true - pred) <= q)), "mean_width": 2 * q}


def fit_classes(probs_fit: np.ndarray, y_fit: np.ndarray, probs: np.ndarray, y: np.ndarray, coverage: float,
                fitted_on: str = "validation") -> dict:
    """Sets {k : p_k ≥ 1 − q}, q the conformal quantile of 1 − p(true class) on the split `fitted_on`
    (the least ambiguous set-valued classifier: the smallest sets on average)."""
    q = _quantile(1 - probs_fit[np.arange(len(y_fit)), y_fit], coverage)
    if not math.isfinite(q):
        return _record(coverage, len(y_fit), fitted_on, too_few=True)
    sets = probs >= 1 - q
    size = sets.sum(1)
    return {**_record(coverage, len(y_fit), fitted_on), "min_probability": 1 - q,
            "test_coverage": float(sets[np.arange(len(y)), y].mean()), "mean_set_size": float(size.mean()),
            "singletons": float((size == 1).mean()), "empty": float((size == 0).mean())}


def _record(coverage: float, n: int, fitted_on: str, too_few: bool = False) -> dict:
    """What every fit records: the coverage asked, and the split and number of samples it was fitted on."""
    return {"coverage": coverage, "fitted_on": fitted_on, "samples": n, **({"too_few": True} if too_few else {})}


def intervals(fitted: dict, values: list[float]) -> list[list[float]]:
    q = fitted["half_width"]
    return [[float(v) - q, float(v) + q] for v in values]


def sets(fitted: dict, probs: np.ndarray, names) -> list[list[str]]:
    keep = probs >= fitted["min_probability"]
    return [[names[k] for k in np.flatnonzero(row)] for row in keep]


def sentence(c: dict) -> str:
    """The conformal result in words, for the CLI, the report and the methods text."""
    from ..report import fmt

    where, n = c.get("fitted_on", "validation"), c.get("samples", c.get("validation_samples"))  # (runs before 12-2026)
    if c.get("too_few"):
        return (f"Conformal {c['coverage']:.0%} prediction intervals or sets: {n} {where} samples are too few for that "
                f"coverage (it needs {math.ceil(1 / (1 - c['coverage'])) - 1}); lower eval.conformal or hold out more "
                "samples.")
    fitted = f"fitted on the {n:,} {where} samples" + (
        ", held out from training and from choosing the epoch" if where == "calibration" else
        ", which also chose the epoch: approximate; data.calibration_fraction holds out samples for the guarantee")
    if "half_width" in c:
        return (f"Conformal {c['coverage']:.0%} prediction intervals ({fitted}): each prediction ± "
                f"{fmt(c['half_width'])}, covering {c['test_coverage']:.1%} of the test samples.")
    return (f"Conformal {c['coverage']:.0%} prediction sets ({fitted}): every class of probability ≥ "
            f"{fmt(c['min_probability'])}; they held the true class for {c['test_coverage']:.1%} of the test samples, "
            f"with {fmt(c['mean_set_size'])} classes on average ({c['singletons']:.0%} a single class, "
            f"{c['empty']:.0%} empty).")
