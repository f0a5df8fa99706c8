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


def regression_residuals(pred: np.ndarray, true: np.ndarray, k: int = 10) -> dict:
    res = true - pred
    worst = np.argsort(-np.abs(res))[:k]
    return {"residual_mean": float(res.mean()), "residual_std": float(res.std()),
            "largest": [{"index": int(i), "true": float(true[i]), "predicted": float(pred[i]), "residual": float(res[i])}
                        for i in worst]}
