"""Results must not depend on the split: aggregate test metrics over repeated split seeds."""
from __future__ import annotations

import math

import numpy as np


# metrics that cannot leave [0, 1]: their interval is clipped there (a t-interval knows no bounds)
UNIT_RANGE = {"accuracy", "balanced_accuracy", "f1_macro", "precision_macro", "recall_macro", "average_precision_macro",
              "roc_auc", "exact_sequence_accuracy", "token_accuracy", "dice", "iou", "object_f1", "object_precision",
              "object_recall", "pr_auc"}


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
