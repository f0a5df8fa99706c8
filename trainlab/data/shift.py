"""Do the test samples come from the training samples' distribution? When the test set was not drawn at
random from the same data (an official test set, a split in time order, a split by groups), a classifier
is trained to tell test samples from training ones ("adversarial validation"): if it can, the test score
measures the model on another population, which may be the point (a new site, a later year) but must
be said. A random split makes both sides alike by construction, so it is not checked.

The classifier is linear discriminant analysis on each sample's features and their squares (means and
spreads that differ), fitted on one half of the samples and scored on the other, so that Mann-Whitney's
test of its AUC on that half holds; the AUC is 0.5 when the two sides are alike. With groups, each
group's mean is the unit compared. Tables also get each column's two-sample Kolmogorov-Smirnov test;
series are the table of each value's mean and standard deviation over a series' steps;
images are described by 8 × 8 block means, their brightness and contrast; texts by which of the common
words they hold and their length, and each word's share of the texts is compared (Fisher's exact test).
Classes are checked for other proportions in the test set (χ²), a regression's targets for another
distribution (Kolmogorov-Smirnov)."""
from __future__ import annotations

import re

import numpy as np

SAMPLES = 10_000  # at most this many samples of each side (drawn at random, the same each run)
TEXT_SAMPLES = 5_000  # ... of texts (their words are counted in Python: 2.5 s for 2 × 5,000 reviews of 230 words)
DIFFERENT = 0.55  # an AUC from which, when it is also beyond chance (p < ALPHA), the two sides are said to differ
ALPHA = 0.01  # (5% would warn of one run in twenty whose test set is just as the training set)
COLUMN_D = 0.1  # a column's Kolmogorov-Smirnov D from which, beyond chance (Holm-adjusted p < ALPHA), it differs
SHOWN = 5  # the features that differ most, named
WORDS = 300  # texts: the words most texts of the two samples hold, each one feature (present or absent)
WORD_SHARE = 0.05  # a word's share of the texts that, changed by this much beyond chance, says the texts differ


def _features(x: np.ndarray, kind: str) -> np.ndarray:
    """Inputs → what the classifier sees: a table's columns, or an image's 8 × 8 block means (channels
    averaged) with its mean and standard deviation."""
    from .split import _block_sums

    if kind == "table":
        return x.reshape(len(x), -1).astype(np.float64)
    x = x.reshape(len(x), -1, *x.shape[-2:]).astype(np.float32)
    h, w = x.shape[-2:]
    bh, bw = max(h // 8, 1), max(w // 8, 1)
    blocks = _block_sums(x.mean(1), bh, bw).reshape(len(x), -1) / (bh * bw)
    flat = x.reshape(len(x), -1)
    return np.hstack([blocks, flat.mean(1, keepdims=True), flat.std(1, keepdims=True)]).astype(np.float64)


def _text_features(train, test) -> tuple[np.ndarray, list[str], list[np.ndarray], list[float]]:
    """Two samples of texts → (features of both, stacked: which of the WORDS most common words each text
    holds and the log of its length in words; those words; each side's (texts, words) presence matrix;
    each side's mean words per text)."""
    from collections import Counter

    words = re.compile(r"\w+")  # lower case, letters and digits (any script)
    each = [[words.findall(str(t).lower()) for t in texts] for texts in (train, test)]
    sets = [[set(w) for w in side] for side in each]
    counts = Counter()
    for side in sets:
        for w in side:
            counts.update(w)
    vocab = [w for w, _ in counts.most_common(WORDS)]
    index = {w: j for j, w in enumerate(vocab)}
    present = []
    for side in sets:
        m = np.zeros((len(side), len(vocab)), bool)
        for i, held in enumerate(side):
            m[i, [index[w] for w in held if w in index]] = True
        present.append(m)
    length = [np.array([len(w) for w in side], np.float64) for side in each]
    f = np.vstack([np.hstack([m, np.log1p(n)[:, None]]) for m, n in zip(present, length)])
    return f, vocab, present, [float(n.mean()) for n in length]


def _word_shares(vocab: list[str], present: list[np.ndarray]) -> list[dict]:
    """The words whose share of the texts differs most between the two sides: Fisher's exact test on each
    word's 2 × 2 counts, Holm-adjusted over the words compared."""
    from scipy import stats

    from ..evaluate.robustness import holm

    n = [len(m) for m in present]
    has = [m.sum(0) for m in present]
    rows = [{"feature": w, "train_share": has[0][j] / n[0], "test_share": has[1][j] / n[1],
             "p": float(stats.fisher_exact([[has[0][j], n[0] - has[0][j]], [has[1][j], n[1] - has[1][j]]])[1])}
            for j, w in enumerate(vocab)]
    for r, p in zip(rows, holm([r["p"] for r in rows])):
        r["p_holm"] = p
    return sorted(rows, key=lambda r: -abs(r["test_share"] - r["train_share"]))[:SHOWN]


def _discriminant(f: np.ndarray, side: np.ndarray) -> np.ndarray:
    """Linear discriminant analysis: the direction that separates the two sides (a covariance shared by
    both, lightly shrunk)."""
    a, b = f[side == 0], f[side == 1]
    centred = np.vstack([a - a.mean(0), b - b.mean(0)])
    cov = centred.T @ centred / max(len(centred) - 2, 1)
    cov += np.eye(len(cov)) * (1e-3 * np.trace(cov) / len(cov) + 1e-12)
    return np.linalg.solve(cov, b.mean(0) - a.mean(0))


def _auc(score: np.ndarray, side: np.ndarray) -> tuple[float, float, float]:
    """ROC AUC of the scores for the test side, its 95% interval (Hanley and McNeil's standard error) and
    the one-sided p-value of Mann-Whitney's U that it exceeds ½."""
    from scipy import stats

    test, train = score[side == 1], score[side == 0]
    u = stats.mannwhitneyu(test, train, alternative="greater")
    n1, n2 = len(test), len(train)
    a = float(u.statistic / (n1 * n2))
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    se = float(np.sqrt(max(a * (1 - a) + (n1 - 1) * (q1 - a * a) + (n2 - 1) * (q2 - a * a), 0.0) / (n1 * n2)))
    return a, se, float(u.pvalue)


def _columns(train: np.ndarray, test: np.ndarray, names) -> list[dict]:
    """The table's columns that differ most between the two sides: Kolmogorov-Smirnov's D, Holm-adjusted."""
    from scipy import stats

    from ..evaluate.robustness import holm

    rows = []
    for j in range(train.shape[1]):
        a, b = train[:, j], test[:, j]
        a, b = a[np.isfinite(a)], b[np.isfinite(b)]
        if len(a) and len(b):
            r = stats.ks_2samp(a, b)
            rows.append({"feature": names[j] if j < len(names) else f"x{j}", "ks": float(r.statistic),
                         "p": float(r.pvalue), "train_mean": float(a.mean()), "test_mean": float(b.mean()),
                         "train_std": float(a.std()), "test_std": float(b.std())})
    for r, p in zip(rows, holm([r["p"] for r in rows])):
        r["p_holm"] = p
    return sorted(rows, key=lambda r: -r["ks"])[:SHOWN]


def _by_group(a: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Each group's mean of the rows of `a` (groups in the order of np.unique)."""
    _, inverse, counts = np.unique(ids, return_inverse=True, return_counts=True)
    out = np.zeros((len(counts), a.shape[1]))
    np.add.at(out, inverse, np.nan_to_num(a))
    seen = np.zeros((len(counts), a.shape[1]))
    np.add.at(seen, inverse, np.isfinite(a))
    return np.where(seen > 0, out / np.maximum(seen, 1), np.nan)


def check(train: np.ndarray, test: np.ndarray, kind: str, why: str, names=(), groups=None, seed: int = 0) -> dict:
    """Whether `test` differs from `train` (inputs as read: a table's columns, images), for the report:
    the AUC of a classifier telling them apart on the half it was not fitted on, its interval and
    p-value, whether they are said to differ, and for tables the columns that differ most. `why`: how
    the test set was chosen. `groups`: (train, test) group ids; the groups are then the units compared
    (each its mean), since a test set of 30 patients differs from 70 others by chance far more than 600
    samples drawn alike would."""
    series = kind == "series"
    if series:  # each value's level and spread over a series' steps (and, padded, its steps): a table of 2F columns
        padded = any(np.isnan(x).any() for x in (train, test))
        names = [f"{n}'s {what} over a series" for what in ("mean", "standard deviation")
                 for n in (names or [f"x{j + 1}" for j in range(train.shape[-1])])] + ["steps"] * padded
        from .datasets import series_lengths

        train, test = (np.hstack([np.nanmean(x, 1, dtype=np.float64), np.nanstd(x, 1, dtype=np.float64)]
                                 + [series_lengths(x, "")[:, None].astype(np.float64)] * padded)
                       for x in (train, test))
        kind = "table"
    rng = np.random.default_rng(seed)
    most = TEXT_SAMPLES if kind == "text" else SAMPLES
    pick = [np.sort(rng.choice(len(x), min(most, len(x)), replace=False)) for x in (train, test)]
    if kind == "text":  # (a word's presence has no spread of its own to differ)
        f, vocab, present, lengths = _text_features(*(np.asarray(x, dtype=object)[p] for x, p in zip((train, test), pick)))
    else:
        f = np.vstack([_features(x[p], kind) for x, p in zip((train, test), pick)])
    if np.isnan(f).any():  # missing cells: the column's median (none: 0)
        f = np.nan_to_num(np.where(np.isnan(f), np.nanmedian(f, 0), f))
    spread = f.std(0)
    f = (f - f.mean(0)) / np.where(spread > 0, spread, 1.0)
    if kind != "text":
        f = np.hstack([f, f * f])  # a spread that differs is a mean of squares that differs
    side = np.r_[np.zeros(len(pick[0]), int), np.ones(len(pick[1]), int)]
    columns = [x[p].reshape(len(p), -1).astype(np.float64) for x, p in zip((train, test), pick)] \
        if kind == "table" else []
    if groups is not None:  # a group on each side (the split keeps it whole), as one unit
        ids = [np.asarray(g)[p] for g, p in zip(groups, pick)]
        f = np.vstack([_by_group(part, i) for part, i in zip((f[side == 0], f[side == 1]), ids)])
        columns = [_by_group(c, i) for c, i in zip(columns, ids)]
        side = np.r_[np.zeros(len(np.unique(ids[0])), int), np.ones(len(np.unique(ids[1])), int)]
    half = rng.permutation(np.arange(len(f)) % 2)
    if min(np.bincount(side[half == k], minlength=2).min() for k in (0, 1)) < 2:
        return {"why": why, "too_few": True}
    w = _discriminant(f[half == 0], side[half == 0])
    auc, se, p = _auc(f[half == 1] @ w, side[half == 1])
    out = {"why": why, "auc": auc, "interval": [max(auc - 1.96 * se, 0.0), min(auc + 1.96 * se, 1.0)], "p_value": p,
           "samples": {"train": int((side[half == 1] == 0).sum()), "test": int(side[half == 1].sum())},
           "unit": "groups" if groups is not None else "samples", "differ": bool(auc >= DIFFERENT and p < ALPHA),
           **({"series": True} if series else {})}
    if columns:  # a column that alone differs clearly says so too
        out["columns"] = _columns(*columns, list(names))
        out["differ"] |= any(c["p_holm"] < ALPHA and c["ks"] >= COLUMN_D for c in out["columns"])
    elif kind == "text":
        out["words_per_text"] = {"train_mean": lengths[0], "test_mean": lengths[1]}
        if groups is None:  # and so does a word (a group's texts are not independent draws)
            out["words"] = _word_shares(vocab, present)
            out["differ"] |= any(w["p_holm"] < ALPHA and abs(w["test_share"] - w["train_share"]) >= WORD_SHARE
                                 for w in out["words"])
    else:
        mean = [float(x[p].astype(np.float32).mean()) for x, p in zip((train, test), pick)]
        std = [float(x[p].astype(np.float32).std()) for x, p in zip((train, test), pick)]
        out["pixels"] = {"train_mean": mean[0], "test_mean": mean[1], "train_std": std[0], "test_std": std[1]}
    return out


def one_label(y: np.ndarray, groups: np.ndarray) -> np.ndarray | None:
    """Each group's class (groups in the order of np.unique); None when a group's samples differ in class."""
    _, inverse = np.unique(groups, return_inverse=True)
    inverse = inverse.ravel()
    lo, hi = np.full(inverse.max(initial=-1) + 1, np.iinfo(np.int64).max), np.full(inverse.max(initial=-1) + 1, -1)
    np.minimum.at(lo, inverse, y)
    np.maximum.at(hi, inverse, y)
    return lo if np.array_equal(lo, hi) else None


def classes(y_train: np.ndarray, y_test: np.ndarray, names, groups=None) -> dict | None:
    """Whether the classes come in other proportions in the test set: χ² on the two splits' class counts
    (classes seen in neither left out), and the class whose share changed most, with its share on each
    side. `groups`: (train, test) group ids; the groups are then counted, each of its samples' class (the
    samples of a group are not independent draws), and None returned when a group's samples differ in class."""
    from scipy import stats

    if groups is not None:
        y_train, y_test = (one_label(y, g) for y, g in zip((y_train, y_test), groups))
        if y_train is None or y_test is None:
            return None

    k = max(len(names), int(max(y_train.max(initial=0), y_test.max(initial=0))) + 1)
    counts = np.stack([np.bincount(y_train, minlength=k), np.bincount(y_test, minlength=k)])
    seen = counts.sum(0) > 0
    share = counts / counts.sum(1, keepdims=True)
    p = float(stats.chi2_contingency(counts[:, seen]).pvalue) if seen.sum() > 1 else 1.0
    c = int(np.argmax(np.abs(share[1] - share[0])))
    return {"p_value": p, "differ": bool(p < ALPHA), "unit": "samples" if groups is None else "groups",
            "most_changed": {"class": str(names[c]) if c < len(names) else str(c), "train_share": float(share[0, c]),
                             "test_share": float(share[1, c])}}


def targets(y_train: np.ndarray, y_test: np.ndarray, names=()) -> dict:
    """Whether a regression's targets come from another distribution in the test set: each target's
    two-sample Kolmogorov-Smirnov test (Holm-adjusted over several), and the one that differs most,
    with its mean and standard deviation on each side. A narrower spread alone lowers R² (it compares
    the errors with the spread), a wider one asks the model to extrapolate."""
    a, b = (np.asarray(y, np.float64).reshape(len(y), -1) for y in (y_train, y_test))
    if len(names) != a.shape[1]:
        names = [f"target {j}" for j in range(a.shape[1])] if a.shape[1] > 1 else ["the target"]
    top = _columns(a, b, list(names))[0]
    return {"p_value": top["p_holm"], "differ": bool(top["p_holm"] < ALPHA and top["ks"] >= COLUMN_D),
            "most_changed": top}
