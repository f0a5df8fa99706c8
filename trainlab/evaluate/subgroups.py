"""Does the network work as well for every subgroup? With `data.subgroups = ["sex", "site"]` the test
metrics are also given for each value of those columns (numbers with many values in quartiles), with a
test of whether they differ more than chance would make them: χ² on the right and wrong predictions
per value (classes), a one-way ANOVA of the absolute errors (values).

Each split keeps sufficient statistics per value (a confusion matrix; or n, Σ|e|, Σe², Σy, Σy²), so a
cross-validation, where every sample is tested once, merges its folds into metrics over all samples."""
from __future__ import annotations

import numpy as np

from ..core.errors import DataError

MAX_VALUES = 20  # a subgroup column with more values: numbers are cut into quartiles, texts refused
BINS = 4


def check(raw) -> None:
    """A text column of too many values is an error before any run directory exists."""
    for name, v in (raw.subgroups or {}).items():
        values = set(np.asarray(v, str).tolist())
        if len(values) > MAX_VALUES and _numbers(values) is None:
            raise DataError(f"data.subgroups: column {name!r} holds {len(values)} different texts; a subgroup is one "
                            f"of at most {MAX_VALUES} values (sex, site, an age band). Group the values in a column of "
                            "their own first.")


def _numbers(values) -> np.ndarray | None:
    """The values as numbers, missing cells as NaN; None when any filled cell is not a number."""
    from ..data.sources import MISSING, finite_number

    out = [np.nan if v.strip().lower() in MISSING else finite_number(v) for v in values]
    return None if any(v is None for v in out) else np.array(out, float)


def values_of_test(raw, split) -> dict | None:
    """name → each test sample's subgroup: its value, or for numbers of many values its quartile of
    the whole column ("52-60"), or "missing"."""
    if not raw.subgroups:
        return None
    source = raw.subgroups_test if split.official_test else raw.subgroups
    out = {}
    for name, whole in raw.subgroups.items():
        whole, these = np.asarray(whole, str), np.asarray(source[name], str)[split.test_index]
        numbers = _numbers(whole.tolist())
        if numbers is not None and len(set(whole.tolist())) > MAX_VALUES:
            edges = np.nanquantile(numbers, np.linspace(0, 1, BINS + 1))
            x = _numbers(these.tolist())
            band = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, BINS - 1)
            names = [f"{_short(edges[i])}-{_short(edges[i + 1])}" for i in range(BINS)]
            these = np.array(["missing" if np.isnan(v) else names[b] for v, b in zip(x, band)])
        out[name] = np.where(np.char.strip(these) == "", "missing", these)
    return out


def _short(v: float) -> str:
    return f"{v:.4g}"


def _order(value: str):
    """Values in reading order: numbers and bands ("42-53") by their number, then texts, "missing" last."""
    try:
        return (0, float(value.split("-")[0] if value[:1] != "-" else value), value)
    except ValueError:
        return (2 if value == "missing" else 1, 0.0, value)


def statistics(values: dict, true: np.ndarray, pred: np.ndarray, num_classes: int) -> dict:
    """name → value → what its metrics are computed from: the confusion matrix of its test samples
    (classes), or n, Σ|e|, Σe², Σy, Σy² (values; with several targets, (N, T) arrays, each target is a
    column of its own, "name, target k")."""
    if np.ndim(true) == 2 and true.shape[1] > 1:
        return {f"{name}, target {k + 1}": by for k in range(true.shape[1])
                for name, by in statistics(values, true[:, k], pred[:, k], 0).items()}
    out = {}
    for name, v in values.items():
        out[name] = {}
        for value in sorted(set(v.tolist()), key=_order):
            m = v == value
            if num_classes:
                cm = np.zeros((num_classes, num_classes), np.int64)
                np.add.at(cm, (true[m].astype(int), pred[m].astype(int)), 1)
                out[name][value] = {"confusion": cm.tolist()}
            else:
                t, e = true[m].astype(float), (pred[m] - true[m]).astype(float)
                out[name][value] = {"n": int(m.sum()), "abs": float(np.abs(e).sum()), "sq": float((e ** 2).sum()),
                                    "y": float(t.sum()), "y2": float((t ** 2).sum())}
    return out


def merge(parts: list[dict]) -> dict:
    """The statistics of several splits that tested different samples (the folds), summed."""
    out: dict = {}
    for part in parts:
        for name, by in part.items():
            for value, s in by.items():
                have = out.setdefault(name, {}).get(value)
                out[name][value] = s if have is None else {
                    k: (np.add(have[k], s[k]).tolist() if k == "confusion" else have[k] + s[k]) for k in s}
    return out


def summarise(stats: dict, class_names: list[str] | None) -> dict:
    """name → {"rows": [{value, n, metrics}], "test": the test of whether the metric differs}; with two or
    more columns their p-values are also Holm-adjusted ("p_holm"), which then decides (decisive_p)."""
    from .robustness import holm

    out = {name: (_classes(by, class_names) if class_names else _values(by)) for name, by in stats.items()}
    if len(out) >= 2:
        for by, p in zip(out.values(), holm([by["test"]["p_value"] for by in out.values()])):
            by["test"]["p_holm"] = p
    return out


def decisive_p(s: dict) -> float:
    """The p-value a column's verdict rests on: Holm-adjusted when several columns were tested."""
    return s["test"].get("p_holm", s["test"]["p_value"])


def _classes(by: dict, class_names: list[str]) -> dict:
    from scipy import stats as st

    rows, table = [], []
    for value, s in by.items():
        cm = np.array(s["confusion"])
        n, right = int(cm.sum()), int(np.trace(cm))
        support = cm.sum(1)
        recall = {c: float(cm[i, i] / support[i]) for i, c in enumerate(class_names) if support[i]}
        rows.append({"value": value, "n": n, "accuracy": right / n if n else float("nan"),
                     "balanced_accuracy": float(np.mean(list(recall.values()))) if recall else float("nan"),
                     "recall": recall})
        table.append([right, n - right])
    table = np.array(table)
    test = {"test": "χ² test of independence on the right and wrong predictions per value", "metric": "accuracy"}
    if len(table) < 2 or (table.sum(0) == 0).any():  # one value, or no error (no right answer) anywhere
        test["p_value"] = 1.0
    elif len(table) == 2 and (st.contingency.expected_freq(table) < 5).any():
        test.update(test="Fisher's exact test on the right and wrong predictions per value",
                    p_value=float(st.fisher_exact(table).pvalue))
    else:
        test["p_value"] = float(st.chi2_contingency(table).pvalue)
    return {"rows": rows, "test": test}


def _values(by: dict) -> dict:
    from scipy import stats as st

    rows = []
    for value, s in by.items():
        n = s["n"]
        ss_tot = s["y2"] - s["y"] ** 2 / n if n else 0.0
        rows.append({"value": value, "n": n, "mae": s["abs"] / n, "rmse": float(np.sqrt(s["sq"] / n)),
                     "r2": float(1 - s["sq"] / ss_tot) if n > 1 and ss_tot > 0 else float("nan")})
    # one-way ANOVA of |e| across the values, from n, Σ|e| and Σ|e|² = Σe² of each
    n = np.array([by[r["value"]]["n"] for r in rows], float)
    total, mean = n.sum(), np.array([r["mae"] for r in rows])
    grand = float((n * mean).sum() / total)
    between = float((n * (mean - grand) ** 2).sum())
    within = float(sum(by[r["value"]]["sq"] for r in rows) - (n * mean ** 2).sum())
    g = len(rows)
    test = {"test": "one-way ANOVA of the absolute errors across the values", "metric": "mae"}
    if g < 2 or total <= g or within <= 0:
        test["p_value"] = 1.0
    else:
        f = (between / (g - 1)) / (within / (total - g))
        test.update(f=float(f), p_value=float(st.f.sf(f, g - 1, total - g)))
    return {"rows": rows, "test": test}


def table(s: dict, class_names) -> tuple[list[str], list[list]]:
    """One column's subgroups as (metric columns, a row of numbers per value): value, n, its metrics and,
    for classes, each class's recall (None where the value has no sample of that class)."""
    keys = [k for k in s["rows"][0] if k not in ("value", "n", "recall")]
    classes = list(class_names) if "recall" in s["rows"][0] else []
    return ["n", *keys, *(f"recall {c}" for c in classes)], \
        [[r["value"], r["n"], *(r[k] for k in keys), *(r["recall"].get(c) for c in classes)] for r in s["rows"]]


def sentence(name: str, s: dict, folds: int = 0) -> str:
    """One column's subgroups in words: each value's metric and n, and whether they differ beyond chance."""
    from ..report import fmt, pvalue

    metric = s["test"]["metric"]
    shown = s["rows"] if len(s["rows"]) <= 8 else sorted(s["rows"], key=lambda r: -r["n"])[:8]
    parts = ", ".join(f"{r['value']} {fmt(r[metric])} (n {r['n']})" for r in shown)
    more = f" and {len(s['rows']) - len(shown)} more" if len(s["rows"]) > len(shown) else ""
    where = f"over all {folds} folds' test samples" if folds else "test set"
    p = s["test"]["p_value"]
    verdict = (f"{metric.replace('_', ' ')} differs between the values more than chance would make it"
               if decisive_p(s) < 0.05 else "no evidence that it differs between the values")
    holm = f" (Holm-adjusted over the columns: {pvalue(s['test']['p_holm'])})" if "p_holm" in s["test"] else ""
    return (f"By {name} ({metric.replace('_', ' ')}, {where}): {parts}{more}; {s['test']['test']}, {pvalue(p)}{holm}: "
            f"{verdict}.")
