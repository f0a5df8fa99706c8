"""Metrics per group. Windows cut from recordings, or a patient's several images, are not independent
samples: a paper gives the score per recording (per patient) beside the score per window (per image).
Each test group is scored once, by its samples' mean predicted probabilities (a classifier: the class
of the highest mean) or mean prediction (values), against the label they all share; a group whose
samples differ in label is left out and counted."""
from __future__ import annotations

import numpy as np

from .robustness import CLASS_SCORES, VALUE_SCORES, bootstrap, weighted_scores


def group_means(groups, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each group's mean of `scores` (N, ...) → (the group of each sample as 0..G-1 in sorted order of the
    ids, each group's first sample, its sample count, its mean scores (G, K))."""
    _, first, inverse, counts = np.unique(groups, return_index=True, return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    s = np.asarray(scores, np.float64).reshape(len(inverse), -1)
    mean = np.zeros((len(counts), s.shape[1]))
    np.add.at(mean, inverse, s)
    return inverse, first, counts, mean / counts[:, None]


def headline(got: dict | None, num_classes: int = 0) -> dict | None:
    """by_group's first three scores ({"accuracy", "balanced_accuracy", "f1_macro"} or {"r2", "rmse", "mae"}),
    None when the groups were not scored."""
    if not got or got.get("too_few"):
        return None
    return {k: got[k] for k in (CLASS_SCORES if num_classes else VALUE_SCORES)[:3]}


def by_group(groups: np.ndarray, true: np.ndarray, scores: np.ndarray, num_classes: int = 0,
             intervals: bool = True) -> dict | None:
    """The per-group metrics (CLASS_SCORES or VALUE_SCORES, with bootstrap intervals over the groups unless
    not `intervals`) of test samples of `groups` with labels `true` and `scores`: (N, K) class probabilities,
    or (N,) / (N, T) predictions in the target's units. None when no group has two samples (the scores per
    sample then)."""
    inverse, _, counts, mean = group_means(groups, scores)
    if counts.max() < 2:
        return None
    t = np.asarray(true).reshape(len(true), -1).astype(np.float64)
    lo, hi = np.full((len(counts), t.shape[1]), np.inf), np.full((len(counts), t.shape[1]), -np.inf)
    np.minimum.at(lo, inverse, t)
    np.maximum.at(hi, inverse, t)
    one = (lo == hi).all(1)  # every sample of the group has the same label (target)
    kept = np.flatnonzero(one)
    out = {"groups": int(len(kept)), "left_out": int(len(counts) - len(kept))}
    if len(kept) < 2:  # too few groups of one label to score
        return {**out, "too_few": True}
    out["samples_per_group"] = {"median": float(np.median(counts[kept])), "smallest": int(counts[kept].min()),
                                "largest": int(counts[kept].max())}
    if num_classes:
        g_true, g_pred = lo[kept, 0].astype(np.int64), mean[kept].argmax(1)
    else:
        g_true, g_pred = lo[kept].reshape(len(kept), -1), mean[kept]
        if t.shape[1] == 1:
            g_true, g_pred = g_true[:, 0], g_pred[:, 0]
    values = weighted_scores(g_true, g_pred, np.ones((1, len(kept))), num_classes)[0]
    names = CLASS_SCORES if num_classes else VALUE_SCORES
    return {**out, **{k: float(v) for k, v in zip(names, values)},
            **({"bootstrap": bootstrap(g_true, g_pred, num_classes)} if intervals else {})}
