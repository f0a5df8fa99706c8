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
    """Intervals pred ± q, q the conformal quantile of the absolute errors on the split `fitted_on`. With
    several targets ((N, T) arrays) each target gets its own q, covering that target as asked; the test
    coverage and width are then their means, and "target_coverage" each one's."""
    several = np.ndim(true_fit) == 2 and np.shape(true_fit)[1] > 1
    errors = np.abs(np.reshape(true_fit, (len(true_fit), -1)) - np.reshape(pred_fit, (len(pred_fit), -1)))
    q = np.array([_quantile(e, coverage) for e in errors.T])
    if not np.isfinite(q).all():
        return _record(coverage, len(true_fit), fitted_on, too_few=True)
    held = np.abs(np.reshape(true, (len(true), -1)) - np.reshape(pred, (len(pred), -1))) <= q
    out = {**_record(coverage, len(true_fit), fitted_on), "half_width": q.tolist() if several else float(q[0]),
           "test_coverage": float(held.mean(0).mean()), "mean_width": float(2 * q.mean())}
    return {**out, "target_coverage": held.mean(0).tolist()} if several else out


def fit_classes(probs_fit: np.ndarray, y_fit: np.ndarray, probs: np.ndarray, y: np.ndarray, coverage: float,
                fitted_on: str = "validation", by_class: bool = False) -> dict:
    """Sets {k : p_k ≥ 1 − q}, q the conformal quantile of 1 − p(true class) on the split `fitted_on`
    (the least ambiguous set-valued classifier: the smallest sets on average). That covers new samples on
    average, a hard class less than the others; `by_class` (Mondrian conformal prediction) fits one q per
    class on that class's samples, so each class is covered as asked (a class with too few samples for it
    is always in the set). Each class's test coverage is recorded either way."""
    k = probs.shape[1]
    truth = 1 - probs_fit[np.arange(len(y_fit)), y_fit]
    if by_class:
        q = np.array([_quantile(truth[y_fit == c], coverage) for c in range(k)])
        few = [c for c in range(k) if not math.isfinite(q[c])]
        threshold = np.where(np.isfinite(q), 1 - q, 0.0)
    else:
        q = _quantile(truth, coverage)
        if not math.isfinite(q):
            return _record(coverage, len(y_fit), fitted_on, too_few=True)
        few, threshold = [], np.full(k, 1 - q)
    sets = probs >= threshold
    size, held = sets.sum(1), sets[np.arange(len(y)), y]
    per_class = [float(held[y == c].mean()) if (y == c).any() else None for c in range(k)]
    return {**_record(coverage, len(y_fit), fitted_on),
            "min_probability": threshold.tolist() if by_class else float(threshold[0]),
            "test_coverage": float(held.mean()), "mean_set_size": float(size.mean()),
            "singletons": float((size == 1).mean()), "empty": float((size == 0).mean()), "class_coverage": per_class,
            **({"by_class": True, "always_in_set": few} if by_class else {})}


def _record(coverage: float, n: int, fitted_on: str, too_few: bool = False) -> dict:
    """What every fit records: the coverage asked, and the split and number of samples it was fitted on."""
    return {"coverage": coverage, "fitted_on": fitted_on, "samples": n, **({"too_few": True} if too_few else {})}


def intervals(fitted: dict, values) -> list:
    """[low, high] for each value; with several targets ((N, T) values), a [low, high] for each target."""
    q = fitted["half_width"]
    if isinstance(q, list):
        return [[[float(v) - h, float(v) + h] for v, h in zip(row, q)] for row in np.reshape(values, (-1, len(q)))]
    return [[float(v) - q, float(v) + q] for v in np.reshape(values, (len(values), -1))[:, 0]]  # (the first target)


def sets(fitted: dict, probs: np.ndarray, names) -> list[list[str]]:
    keep = probs >= np.asarray(fitted["min_probability"])  # one threshold, or one per class
    return [[names[k] for k in np.flatnonzero(row)] for row in keep]


def sentence(c: dict, names=()) -> str:
    """The conformal result in words, for the CLI, the report and the methods text (`names`: the classes)."""
    from ..report import fmt

    where, n = c.get("fitted_on", "validation"), c.get("samples", c.get("validation_samples"))  # (runs before 12-2026)
    if c.get("too_few"):
        return (f"Conformal {c['coverage']:.0%} prediction intervals or sets: {n} {where} samples are too few for that "
                f"coverage (it needs {math.ceil(1 / (1 - c['coverage'])) - 1}); lower eval.conformal or hold out more "
                "samples.")
    fitted = f"fitted on the {n:,} {where} samples" + (
        ", held out from training and from choosing the epoch" if where == "calibration" else
        ", which also chose the epoch: approximate; data.calibration_fraction holds out samples for the guarantee")
    if isinstance(c.get("half_width"), list):
        each = ", ".join(f"target {k + 1} ± {fmt(h)} ({v:.1%})"
                         for k, (h, v) in enumerate(zip(c["half_width"], c["target_coverage"])))
        return (f"Conformal {c['coverage']:.0%} prediction intervals ({fitted}), each target its own: {each} of "
                "the test samples covered.")
    if "half_width" in c:
        return (f"Conformal {c['coverage']:.0%} prediction intervals ({fitted}): each prediction ± "
                f"{fmt(c['half_width'])}, covering {c['test_coverage']:.1%} of the test samples.")
    name = lambda k: names[k] if k < len(names) else str(k)  # noqa: E731
    if c.get("by_class"):
        t = c["min_probability"]
        lo, hi = int(np.argmin(t)), int(np.argmax(t))
        rule = (f"each class when its probability reaches that class's own threshold (class by class, Mondrian: "
                f"from {fmt(t[lo])} for {name(lo)} to {fmt(t[hi])} for {name(hi)})")
    else:
        rule = f"every class of probability ≥ {fmt(c['min_probability'])}"
    out = (f"Conformal {c['coverage']:.0%} prediction sets ({fitted}): {rule}; they held the true class for "
           f"{c['test_coverage']:.1%} of the test samples, with {fmt(c['mean_set_size'])} classes on average "
           f"({c['singletons']:.0%} a single class, {c['empty']:.0%} empty)")
    tested = [(v, k) for k, v in enumerate(c.get("class_coverage") or []) if v is not None]
    if tested:
        v, k = min(tested)
        out += f"; the class covered least, {name(k)}, {v:.1%}" + (
            "" if c.get("by_class") else " (eval.conformal_by_class covers each class as asked)")
    return out + "."
