"""How far can one prediction be trusted? Split-conformal prediction (Vovk et al.; Angelopoulos and
Bates, 2021) turns the validation split's errors into a guarantee: with `eval.conformal = 0.9`, each
prediction comes with an interval (values) or a set of classes that holds the truth for 90% of new
samples like these, whatever the model. The run fits it on the validation split, checks it on the test
set (the coverage reached, the width or set size paid), and predict and serve give it with every
prediction.

The validation split also chose the kept epoch, so the guarantee is approximate; the test coverage
says how well it held."""
from __future__ import annotations

import math

import numpy as np


def _quantile(scores: np.ndarray, coverage: float) -> float:
    """The ⌈(n + 1)·coverage⌉-th smallest of n scores: the conformal quantile (inf when n is too small)."""
    n = len(scores)
    k = math.ceil((n + 1) * coverage)
    return float(np.sort(scores)[k - 1]) if k <= n else math.inf


def fit_values(true_val: np.ndarray, pred_val: np.ndarray, true: np.ndarray, pred: np.ndarray, coverage: float) -> dict:
    """Intervals pred ± q, q the conformal quantile of the validation split's absolute errors."""
    q = _quantile(np.abs(true_val - pred_val), coverage)
    if not math.isfinite(q):
        return _too_few(coverage, len(true_val))
    return {"coverage": coverage, "validation_samples": len(true_val), "half_width": q,
            "test_coverage": float(np.mean(np.abs(true - pred) <= q)), "mean_width": 2 * q}


def fit_classes(probs_val: np.ndarray, y_val: np.ndarray, probs: np.ndarray, y: np.ndarray, coverage: float) -> dict:
    """Sets {k : p_k ≥ 1 − q}, q the conformal quantile of 1 − p(true class) on the validation split
    (the least ambiguous set-valued classifier: the smallest sets on average)."""
    q = _quantile(1 - probs_val[np.arange(len(y_val)), y_val], coverage)
    if not math.isfinite(q):
        return _too_few(coverage, len(y_val))
    sets = probs >= 1 - q
    size = sets.sum(1)
    return {"coverage": coverage, "validation_samples": len(y_val), "min_probability": 1 - q,
            "test_coverage": float(sets[np.arange(len(y)), y].mean()), "mean_set_size": float(size.mean()),
            "singletons": float((size == 1).mean()), "empty": float((size == 0).mean())}


def _too_few(coverage: float, n: int) -> dict:
    return {"coverage": coverage, "validation_samples": n, "too_few": True}


def intervals(fitted: dict, values: list[float]) -> list[list[float]]:
    q = fitted["half_width"]
    return [[float(v) - q, float(v) + q] for v in values]


def sets(fitted: dict, probs: np.ndarray, names) -> list[list[str]]:
    keep = probs >= fitted["min_probability"]
    return [[names[k] for k in np.flatnonzero(row)] for row in keep]


def sentence(c: dict) -> str:
    """The conformal result in words, for the CLI, the report and the methods text."""
    from ..report import fmt

    fitted = f"fitted on the {c['validation_samples']:,} validation samples"
    if c.get("too_few"):
        return (f"Conformal {c['coverage']:.0%} prediction intervals or sets: {c['validation_samples']} validation "
                f"samples are too few for that coverage (it needs {math.ceil(1 / (1 - c['coverage'])) - 1}); lower "
                "eval.conformal or validate on more samples.")
    if "half_width" in c:
        return (f"Conformal {c['coverage']:.0%} prediction intervals ({fitted}): each prediction ± "
                f"{fmt(c['half_width'])}, covering {c['test_coverage']:.1%} of the test samples.")
    return (f"Conformal {c['coverage']:.0%} prediction sets ({fitted}): every class of probability ≥ "
            f"{fmt(c['min_probability'])}; they held the true class for {c['test_coverage']:.1%} of the test samples, "
            f"with {fmt(c['mean_set_size'])} classes on average ({c['singletons']:.0%} a single class, "
            f"{c['empty']:.0%} empty).")
