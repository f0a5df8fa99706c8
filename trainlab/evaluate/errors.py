"""Errors worth looking at: the most confidently wrong test samples, error rates per class and
the most frequent confusion; residuals for regression."""
from __future__ import annotations

import numpy as np


def classification_errors(probs: np.ndarray, y: np.ndarray, class_names, pred: np.ndarray | None = None,
                          k: int = 12) -> dict:
    """`pred`: the predicted classes (default: the most probable; a binary task's threshold may differ);
    a wrong prediction's confidence is the probability of the class it predicted."""
    pred = probs.argmax(1) if pred is None else pred
    conf = probs[np.arange(len(pred)), pred]
    wrong = np.flatnonzero(pred != y)
    worst = wrong[np.argsort(-conf[wrong])][:k]
    per_class = []
    for c, name in enumerate(class_names):
        m = y == c
        if not m.any():
            continue
        errs = pred[m][pred[m] != c]
        common = np.bincount(errs, minlength=len(class_names)).argmax() if len(errs) else None
        per_class.append({"class": name, "support": int(m.sum()), "error_rate": float((pred[m] != c).mean()),
                          "most_confused_with": class_names[common] if common is not None else "",
                          "confusions": int((errs == common).sum()) if common is not None else 0})
    per_class.sort(key=lambda r: -r["error_rate"])
    return {"most_confident_wrong": [{"index": int(i), "true": class_names[y[i]], "predicted": class_names[pred[i]],
                                      "confidence": float(conf[i])} for i in worst],
            "per_class": per_class, "errors": int(len(wrong)), "total": int(len(y))}


def doubtful_labels(probs: np.ndarray, y: np.ndarray, class_names, k: int = 12) -> list[dict]:
    """The `k` samples whose own label gets the lowest probability: in the training split, after
    training on it, a label the network still rejects is often a wrong label, or a hard, atypical sample."""
    p_given = probs[np.arange(len(y)), y]
    worst = np.argsort(p_given)[:k]
    pred = probs.argmax(1)
    return [{"index": int(i), "true": class_names[y[i]], "predicted": class_names[pred[i]],
             "confidence": float(probs[i, pred[i]]), "p_label": float(p_given[i])} for i in worst]


def spread_errors(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Each sample's absolute errors in units of each target's spread over these samples, summed: one
    number per sample for any number of targets (one target: its absolute error over its spread)."""
    n = len(true)
    pred, true = np.reshape(pred, (n, -1)), np.reshape(true, (n, -1))
    spread = true.std(0)
    return (np.abs(pred - true) / np.where(spread > 0, spread, 1.0)).sum(1)


def regression_residuals(pred: np.ndarray, true: np.ndarray, k: int = 10) -> dict:
    """The residuals' mean and spread, and the k samples furthest from their targets (with several
    targets, (N, T) arrays: by spread_errors, each number then a list of one per target)."""
    n = len(true)
    pred, true = np.reshape(pred, (n, -1)), np.reshape(true, (n, -1))
    res = true - pred
    each = lambda a: float(a[0]) if res.shape[1] == 1 else [float(v) for v in a]  # noqa: E731
    worst = np.argsort(-spread_errors(pred, true), kind="stable")[:k]
    return {"residual_mean": each(res.mean(0)), "residual_std": each(res.std(0)),
            "largest": [{"index": int(i), "true": each(true[i]), "predicted": each(pred[i]), "residual": each(res[i])}
                        for i in worst]}
