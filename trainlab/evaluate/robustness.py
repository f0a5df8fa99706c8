"""Results must not depend on the split: aggregate test metrics over repeated split seeds."""
from __future__ import annotations

import math

import numpy as np


# metrics that cannot leave [0, 1]: their interval is clipped there (a t-interval knows no bounds)
UNIT_RANGE = {"accuracy", "balanced_accuracy", "f1_macro", "precision_macro", "recall_macro", "average_precision_macro",
              "roc_auc", "group_accuracy", "group_balanced_accuracy", "group_f1_macro", "exact_sequence_accuracy",
              "token_accuracy", "dice", "iou", "object_f1", "object_precision", "object_recall", "pr_auc"}


def summarize(values: list[float], unit_range: bool = False) -> dict:
    """Mean, sample std and a 95% Student-t interval of the mean (within [0, 1] if `unit_range`)."""
    from scipy import stats

    a = np.asarray(values, float)
    n = len(a)
    mean = float(a.mean())
    std = float(a.std(ddof=1)) if n > 1 else 0.0
    half = float(stats.t.ppf(0.975, n - 1) * std / math.sqrt(n)) if n > 1 else 0.0
    lo, hi = mean - half, mean + half
    if unit_range:
        lo, hi = max(lo, 0.0), min(hi, 1.0)
    return {"mean": mean, "std": std, "ci95": [lo, hi], "n": n, "values": a.tolist()}


def aggregate(results: list[dict]) -> dict:
    """Every scalar test metric present in all repeats → its summary."""
    keys = [k for k, v in results[0].items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return {k: summarize([r[k] for r in results], k in UNIT_RANGE) for k in keys if all(k in r for r in results)}


def copies(n: int, resamples: int, rng, groups=None) -> np.ndarray:
    """(resamples, n): how often each of n samples is in each bootstrap resample, n drawn with replacement;
    with `groups` (n ids), whole groups are drawn (as many as there are), so the resamples vary as much as
    independent units do: windows of one recording, or a patient's images, are not independent samples."""
    ids = np.zeros(n, np.int64) if groups is None else np.unique(groups, return_inverse=True)[1].ravel()
    units = n if groups is None else int(ids.max()) + 1
    drawn = rng.integers(0, units, (resamples, units)) + np.arange(resamples)[:, None] * units
    per_unit = np.bincount(drawn.ravel(), minlength=resamples * units).reshape(resamples, units)
    return per_unit if groups is None else per_unit[:, ids]


CLASS_SCORES = ("accuracy", "balanced_accuracy", "f1_macro", "mcc", "cohen_kappa")
VALUE_SCORES = ("r2", "rmse", "mae")


def weighted_scores(true: np.ndarray, pred: np.ndarray, w: np.ndarray, num_classes: int = 0) -> np.ndarray:
    """(resamples, scores): CLASS_SCORES (`num_classes` > 0) or VALUE_SCORES of `pred` against `true`, each
    sample counted as often as `w` (resamples, n) says, as the test metrics define them."""
    n, total = len(true), w.sum(1)
    if num_classes:
        k = num_classes
        codes = true.astype(np.int64) * k + pred.astype(np.int64) + np.arange(len(w))[:, None] * k * k
        cm = np.bincount(codes.ravel(), weights=w.ravel(), minlength=len(w) * k * k).reshape(-1, k, k)
        diag, actual, predicted = np.diagonal(cm, 0, 1, 2), cm.sum(2), cm.sum(1)
        with np.errstate(invalid="ignore", divide="ignore"):
            recall = np.where(actual > 0, diag / actual, np.nan)
            f1 = np.where(actual + predicted > 0, 2 * diag / (actual + predicted), np.nan)
        # means over the classes in the resample (recall) or in it or predicted (F1)
        return np.stack([diag.sum(1) / total, np.nanmean(recall, 1), np.nanmean(f1, 1), *agreement(cm)], 1)
    # R² of each target, averaged, and errors over all values
    t, p = true.reshape(n, -1).astype(np.float64), pred.reshape(n, -1).astype(np.float64)
    err2 = (p - t) ** 2
    mean = (w @ t) / total[:, None]  # (resamples, targets)
    ss_tot = (w[:, :, None] * (t[None] - mean[:, None]) ** 2).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):  # a resample of one value has no R²
        r2 = np.where(ss_tot > 0, 1 - (w @ err2) / ss_tot, np.nan).mean(1)
    values = total * t.shape[1]
    return np.stack([r2, np.sqrt((w @ err2).sum(1) / values), (w @ np.abs(p - t)).sum(1) / values], 1)


def bootstrap(true: np.ndarray, pred: np.ndarray, num_classes: int = 0, resamples: int = 1000, seed: int = 0,
              extra: dict | None = None, groups=None) -> dict:
    """95% percentile intervals of the headline test metrics over `resamples` bootstrap resamples of
    the test set: how much the score depends on which test samples were drawn. Classes (`num_classes`
    > 0): accuracy, balanced accuracy, macro F1, MCC and Cohen's κ from each resample's confusion matrix; otherwise
    R², RMSE and MAE of `pred` against `true` (in the target's units). `extra`: name → fn(sample
    indices) → a score, computed on the same resamples (metrics of the user's). `groups`: each test
    sample's group; whole groups are resampled (`copies`)."""
    rng = np.random.default_rng(seed)
    n, rows, more = len(true), [], []
    for start in range(0, resamples, 100):  # 100 resamples at a time: bounded memory for large test sets
        w = copies(n, min(100, resamples - start), rng, groups)
        if extra:
            more.append([[fn(np.repeat(np.arange(n), c)) for fn in extra.values()] for c in w])
        rows.append(weighted_scores(true, pred, w, num_classes))
    values = np.concatenate(rows)
    out = {name: percentile_interval(values[:, j]) for j, name in enumerate(CLASS_SCORES if num_classes else VALUE_SCORES)}
    if extra:
        values = np.concatenate(more)
        out.update({name: percentile_interval(values[:, j]) for j, name in enumerate(extra)
                    if np.isfinite(values[:, j]).any()})
    units = {} if groups is None else {"groups": int(len(np.unique(groups)))}
    return {"resamples": resamples, "samples": n, **units, **out}


def auc_interval(positive: np.ndarray, score: np.ndarray, resamples: int = 1000, seed: int = 0,
                 groups=None) -> list[float]:
    """The 95% bootstrap interval of the ROC AUC with which `score` tells the `positive` samples from the
    others (ties count half), over resamples of all the samples (or whole `groups`) as `bootstrap` draws
    them. Each resample is a count of copies per sample; the AUC is the share of (positive, negative) pairs
    in order, weighted by their copies, from the negatives' counts per distinct score: no sort per resample."""
    positive, n = np.asarray(positive, bool), len(score)
    _, level = np.unique(score, return_inverse=True)  # each sample's rank among the distinct scores
    levels, rng, values = int(level.max()) + 1, np.random.default_rng(seed), []
    for start in range(0, resamples, 100):
        r = min(100, resamples - start)
        c = copies(n, r, rng, groups)
        pos, neg = c * positive, c * ~positive
        neg_at = np.bincount((level + np.arange(r)[:, None] * levels).ravel(), weights=neg.ravel(),
                             minlength=r * levels).reshape(r, levels)  # negatives per distinct score
        below = np.cumsum(neg_at, 1) - neg_at
        with np.errstate(invalid="ignore", divide="ignore"):  # a resample without one of the kinds has no AUC
            values.append((pos * (below[:, level] + neg_at[:, level] / 2)).sum(1) / (pos.sum(1) * neg.sum(1)))
    return percentile_interval(np.concatenate(values))


def percentile_interval(values: np.ndarray) -> list[float]:
    """The 95% percentile interval of the resamples' defined values (NaN, NaN when none is)."""
    values = values[np.isfinite(values)]
    return np.percentile(values, [2.5, 97.5]).tolist() if len(values) else [float("nan")] * 2


def agreement(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Matthews' correlation coefficient (Gorodkin's K-class form) and Cohen's κ of confusion matrices
    (..., K, K), rows the true classes: both 0 for guessing by the class shares, 1 for no error; unlike
    accuracy, neither rewards predicting the majority class. 0 where undefined (one class only)."""
    s, c = cm.sum((-2, -1)), np.trace(cm, axis1=-2, axis2=-1)
    actual, predicted = cm.sum(-1), cm.sum(-2)
    chance = (actual * predicted).sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mcc = (c * s - chance) / np.sqrt((s ** 2 - (predicted ** 2).sum(-1)) * (s ** 2 - (actual ** 2).sum(-1)))
        kappa = (c * s - chance) / (s ** 2 - chance)
    return np.nan_to_num(mcc), np.nan_to_num(kappa)


def holm(ps: list[float]) -> list[float]:
    """Holm's adjusted p-values, in the order given: the i-th smallest of m multiplied by m − i + 1,
    made non-decreasing in that order, at most 1. Rejecting where they are below α keeps the chance of
    any false finding below α."""
    order = np.argsort(ps, kind="stable")
    out, running = [0.0] * len(ps), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(ps) - rank) * ps[i]))
        out[i] = running
    return out
