"""Results must not depend on the split: aggregate test metrics over repeated split seeds."""
from __future__ import annotations

import math

import numpy as np


def summarize(values: list[float]) -> dict:
    """Mean, sample std and a 95% Student-t interval of the mean."""
    from scipy import stats

    a = np.asarray(values, float)
    n = len(a)
    mean = float(a.mean())
    std = float(a.std(ddof=1)) if n > 1 else 0.0
    half = float(stats.t.ppf(0.975, n - 1) * std / math.sqrt(n)) if n > 1 else 0.0
    return {"mean": mean, "std": std, "ci95": [mean - half, mean + half], "n": n, "values": a.tolist()}


def aggregate(results: list[dict]) -> dict:
    """Every scalar test metric present in all repeats → its summary."""
    keys = [k for k, v in results[0].items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return {k: summarize([r[k] for r in results]) for k in keys if all(k in r for r in results)}
