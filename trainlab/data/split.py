"""Train / validation / test splits, stratified by label, and the checks for duplicates between them."""
from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass

import numpy as np

from ..core.errors import DataError
from .datasets import RawData


@dataclass
class Split:
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    official_test: bool
    groups: tuple | None = None   # (train, val, test[, calibration]) group ids, when the data has groups
    test_index: np.ndarray | None = None  # each test sample's index in the data as read (its official test set)
    periods: dict | None = None   # split in time order: {"train"|"val"|"test": [first, last] time as written}
    x_cal: np.ndarray | None = None  # data.calibration_fraction: held out from training and model selection
    y_cal: np.ndarray | None = None


def _strata(y, stratify: bool):
    return y if stratify and y.ndim == 1 and np.issubdtype(y.dtype, np.integer) else None


SHARE_KEYS = {"test": "data.test_fraction", "validation": "data.val_fraction", "calibration": "data.calibration_fraction"}


def _cut(y, fraction: float | int, seed: int, stratify: bool, what: str, groups=None):
    """Indices (keep, held_out) with `fraction` (or, if an int, that many) held out, stratified
    when asked. With `groups`, whole groups are held out: about `fraction` of the samples, as the
    first of round(1 / fraction) group folds."""
    from sklearn.model_selection import train_test_split

    if groups is not None:
        return _fold(y, (max(2, round(1 / fraction)), 0, seed), stratify, groups, what)
    idx = np.arange(len(y))
    strat = _strata(y, stratify)
    if strat is not None and what in SHARE_KEYS:
        k, held = len(np.unique(strat)), fraction if isinstance(fraction, int) else math.ceil(fraction * len(y))
        if held < k:
            raise DataError(f"A {what} split stratified by class holds one sample of each class or more, and "
                            f"{fraction:g} of {len(y)} samples is {held}, fewer than the {k} classes: raise "
                            f"{SHARE_KEYS[what]}, use more data, or set data.stratify = false.")
    try:
        return train_test_split(idx, test_size=fraction, random_state=seed, stratify=strat)
    except ValueError as err:
        raise DataError(f"Cannot split off the {what} set ({fraction:g} of {len(y)} samples): {str(err).rstrip('.')}. "
                        "Use more data, a larger fraction, or data.stratify = false.") from None


def _subset(y, fraction: float, seed: int, stratify: bool, groups=None) -> np.ndarray:
    """Sorted indices of the first `fraction` of the samples in an order drawn with `seed`: each class
    keeps its share (at least one sample) when stratified, and with `groups` whole groups are taken
    until the fraction is reached. The order does not depend on `fraction`, so a smaller fraction's
    samples lie inside a larger one's: a learning curve adds data rather than drawing it anew."""
    rng = np.random.default_rng(seed)
    if groups is not None:
        _, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
        order = rng.permutation(len(counts))
        taken = min(int(np.searchsorted(np.cumsum(counts[order]), fraction * len(y))) + 1, len(counts))
        return np.flatnonzero(np.isin(inverse, order[:taken]))
    strat = _strata(y, stratify)
    parts = [np.flatnonzero(strat == c) for c in np.unique(strat)] if strat is not None else [np.arange(len(y))]
    return np.sort(np.concatenate([p[rng.permutation(len(p))[:max(1, round(fraction * len(p)))]] for p in parts]))


def _fold(y, cv: tuple[int, int, int], stratify: bool, groups=None, what: str = "test"):
    """Indices (rest, test) of fold `index` of `k` (stratified when asked; whole groups when there
    are groups), the same folds for every index given the same `seed`."""
    import warnings

    from sklearn.model_selection import KFold, StratifiedGroupKFold, StratifiedKFold

    k, index, seed = cv
    strat = _strata(y, stratify)
    if groups is not None:  # stratified as far as whole groups allow
        splitter, labels = StratifiedGroupKFold(k, shuffle=True, random_state=seed), \
            strat if strat is not None else np.zeros(len(y), np.int64)
        if len(np.unique(groups)) < k:
            raise DataError(f"Cannot split off the {what} set by groups: {len(np.unique(groups))} groups, and "
                            f"{k} are needed. Use more groups, fewer folds or a larger fraction.")
    else:
        splitter, labels = (StratifiedKFold if strat is not None else KFold)(k, shuffle=True, random_state=seed), strat
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a class smaller than k: some folds go without it
            return list(splitter.split(np.zeros(len(y)), labels, groups))[index]
    except ValueError as err:
        raise DataError(f"Cannot cut {len(y)} samples into {k} folds: {err} Use fewer folds or more data.") from None


def split(raw: RawData, *, val_fraction: float, test_fraction: float, stratify: bool, seed: int,
          limit: int = 0, cv: tuple[int, int, int] | None = None, train_fraction: float = 1.0,
          calibration_fraction: float = 0.0, time_window: int = 0) -> Split:
    """Train / validation / test. `cv` = (k, index, seed): K-fold cross-validation, the test set being
    fold `index` (the folds, and the `limit` subset, drawn with `seed` so every fold cuts the same data).
    When the data has groups, each group lands whole in one split. `train_fraction` < 1: only that
    part of the training split is kept (see _subset); validation and test are the same as without.
    `calibration_fraction`: that share of the data (as `val_fraction`) is cut from the training split
    into a calibration split, which neither trains nor chooses the epoch: conformal prediction and
    temperature scaling fitted on it hold as exchangeability promises. `time_window`: see _in_time_order."""
    x, y, g = raw.x, raw.y, raw.groups
    keep = np.arange(len(x))
    if limit and limit < len(x):
        k = len(np.unique(y)) if stratify and raw.target == "class" else 0
        if limit < k:
            raise DataError(f"data.limit = {limit} keeps fewer samples than the {k} classes, so a subset stratified by "
                            f"class cannot hold one of each; raise it (training, validation and test each need every "
                            f"class: {10 * k} or more) or set data.stratify = false.")
        keep, _ = _cut(y, len(x) - limit, cv[2] if cv else seed, stratify, "unused")
        keep = np.sort(keep)
        x, y, g = x[keep], y[keep], (g[keep] if g is not None else None)
    official = raw.x_test is not None
    if official and cv:
        raise DataError(f"{raw.source} has an official test set, which K-fold cross-validation would leave unused. "
                        "Use eval.repeats to repeat over split seeds instead of eval.folds.")
    g_test = None
    _check_shares(val_fraction, calibration_fraction, None if official else (1 / cv[0] if cv else test_fraction), cv)
    if _strata(y, stratify) is not None and raw.time is None and g is None:  # whole groups: stratified as they allow
        _check_rare_classes(y, raw.class_names, ("training", "validation") + ("calibration",) * bool(calibration_fraction)
                            + ("test",) * (not official), raw.source)
    if time_window and (raw.time is None or not cv):
        raise DataError(f"data.time_window = {time_window} counts the periods each rolling-origin fold learns from; "
                        + ("it needs data.time, the column that orders the rows" if raw.time is None else
                           "run with --folds K (K + 1 periods)") + ", or leave it out.")
    if raw.time is not None:
        if calibration_fraction:
            raise DataError("data.time orders the split, and data.calibration_fraction asks for a calibration split "
                            "like new data; samples later in time are not exchangeable with earlier ones. Choose one.")
        return _in_time_order(raw, x, y, keep, val_fraction, test_fraction, cv, g, official, train_fraction, seed,
                              stratify, time_window)
    if official:
        x_test, y_test = raw.x_test, raw.y_test
        if limit and limit < len(x_test):
            x_test, y_test = x_test[:limit], y_test[:limit]
        test_index = np.arange(len(x_test))
    else:
        rest, test = _fold(y, cv, stratify, g) if cv else _cut(y, test_fraction, seed, stratify, "test", g)
        x_test, y_test, x, y, test_index = x[test], y[test], x[rest], y[rest], keep[test]
        if g is not None:
            g_test, g = g[test], g[rest]
    # the validation fraction is of the whole pool, as in "80/10/10"
    held = 1 / cv[0] if cv else test_fraction
    val_share = val_fraction if official else val_fraction / (1 - held)
    train, val = _cut(y, val_share, seed + 1, stratify, "validation", g)
    cal = None
    if calibration_fraction:  # of the whole pool too; cut from what validation left
        rest, held_out = _cut(y[train], val_share * calibration_fraction / val_fraction / (1 - val_share), seed + 3,
                              stratify, "calibration", g[train] if g is not None else None)
        train, cal = train[rest], train[held_out]
    if train_fraction < 1:
        train = train[_subset(y[train], train_fraction, seed + 2, stratify, g[train] if g is not None else None)]
    groups = None if g is None else (g[train], g[val], g_test) + (() if cal is None else (g[cal],))
    return Split(x[train], y[train], x[val], y[val], x_test, y_test, official, groups, test_index,
                 x_cal=None if cal is None else x[cal], y_cal=None if cal is None else y[cal])


def _check_rare_classes(y: np.ndarray, names, splits: tuple[str, ...], source: str) -> None:
    """A split stratified by class puts each class in every one of `splits`: a class with fewer samples
    than splits cannot be; name it rather than pass on scikit-learn's class numbers."""
    counts = np.bincount(y, minlength=len(names)).tolist()
    rare = [i for i, c in enumerate(counts) if 0 < c < len(splits)]
    if rare:
        said = [f"{names[i] if i < len(names) else i!r} ({counts[i]} sample{'s' * (counts[i] != 1)})" for i in rare]
        said = (f"Class {said[0]}" if len(said) == 1 else
                f"Classes {', '.join(said[:5])}" + (f" and {len(said) - 5} more" if len(said) > 5 else ""))
        raise DataError(f"{source}: {said} {'has' if len(rare) == 1 else 'have'} too few samples for a split "
                        f"stratified by class, which puts every class in each of the {len(splits)} splits "
                        f"({', '.join(splits)}): {len(splits)} samples at least. Add samples, leave the class out "
                        "of the data, or set data.stratify = false.")


def _check_shares(val: float, cal: float, test: float | None, cv) -> None:
    """The validation, calibration and test shares (each of the whole data; `test` None for an official
    test set) must leave samples to train on."""
    if val + cal + (test or 0) < 1:
        return
    parts = [f"{SHARE_KEYS['validation']} = {val:g}"] + [f"{SHARE_KEYS['calibration']} = {cal:g}"] * bool(cal)
    if test is not None:
        parts.append(f"the test fold's 1/{cv[0]}" if cv else f"{SHARE_KEYS['test']} = {test:g}")
    raise DataError(f"{' + '.join(parts)} = {val + cal + (test or 0):g} of the samples leaves none to train on: "
                    "the shares are each of the whole data (80/10/10 is val_fraction = 0.1, test_fraction = 0.1) "
                    "and must add up to less than 1.")


def _in_time_order(raw, x, y, keep, val_fraction, test_fraction, cv, groups, official, train_fraction, seed,
                   stratify, window: int = 0) -> Split:
    """The earliest samples for training, the next `val_fraction` of them for validation, the latest
    `test_fraction` for the test; samples of one time stay on one side of each cut. With `cv` = (k, index, _):
    rolling-origin evaluation, the samples cut into k + 1 consecutive periods and fold `index` testing period
    index + 1 with everything before it to learn from (its latest part, the share val_fraction takes of what
    the test leaves in a single split, validating): each test comes after all its model learned from. With
    `window`, only the `window` periods before the test period are learned from (a sliding window: does
    old data still help under drift?)."""
    what = "data.time orders the split"
    if official or groups is not None:
        raise DataError(f"{what}; {'the dataset has an official test set' if official else 'data.group splits by group'}"
                        " too. Choose one.")
    t = raw.time[keep]
    ordered = np.sort(t)
    n = len(t)
    if cv:
        k, index, _ = cv
        starts = [ordered[round(j * n / (k + 1))] for j in range(1, k + 1)]  # the first time of periods 2 .. k + 1
        test = (t >= starts[index]) & (t < starts[index + 1] if index + 1 < k else True)
        since = starts[index - window] if window and index >= window else -np.inf  # the window's first time
        before = np.sort(t[(t >= since) & (t < starts[index])])
        n_val = max(1, round(val_fraction / (1 - test_fraction) * len(before)))
        val_from, test_from = before[max(len(before) - n_val, 0)] if len(before) else starts[index], starts[index]
    else:
        n_test, n_val = max(1, round(test_fraction * n)), max(1, round(val_fraction * n))
        test_from, val_from = ordered[n - n_test], ordered[max(n - n_test - n_val, 0)]
        test = t >= test_from
    val = (t >= val_from) & (t < test_from)
    train = (t < val_from) & (t >= since if cv else True)
    if not train.any() or not val.any() or not test.any():
        empty = "training" if not train.any() else "validation" if not val.any() else "test"
        raise DataError(f"{what}, but its {len(np.unique(t))} distinct times leave no {empty} samples"
                        f"{f' in fold {cv[1] + 1} of {cv[0]}' if cv else ' before the test'}; use more distinct times, "
                        f"{'fewer folds' if cv else 'other fractions'}.")
    tr, va, te = np.flatnonzero(train), np.flatnonzero(val), np.flatnonzero(test)
    if train_fraction < 1:
        tr = tr[_subset(y[tr], train_fraction, seed + 2, stratify)]
    labels = raw.time_labels[keep] if raw.time_labels is not None else t.astype(str)
    span = lambda i: [str(labels[i[np.argmin(t[i])]]), str(labels[i[np.argmax(t[i])]])]  # noqa: E731
    periods = {"train": span(tr), "val": span(va), "test": span(te)}
    if cv:  # which of the rolling folds, of how many samples in all
        periods["rolling"] = {"fold": cv[1] + 1, "folds": cv[0], "samples": n, **({"window": window} if window else {})}
    return Split(x[tr], y[tr], x[va], y[va], x[te], y[te], False, None, keep[te], periods)


def _hashes(x: np.ndarray) -> list[bytes]:
    if x.dtype == object:  # texts
        return [hashlib.blake2b(str(t).encode(), digest_size=16).digest() for t in x]
    rows = np.ascontiguousarray(x).reshape(len(x), -1)
    return [hashlib.blake2b(r.tobytes(), digest_size=16).digest() for r in rows]


def duplicates(s: Split) -> tuple[dict[str, int], str]:
    """Exact duplicates (same bytes) between splits (a test sample seen in training inflates the test
    score), for classes the samples whose inputs recur with another label (no model gets all of them
    right: a labelling error, or inputs that do not decide the class), and a digest of the test set, its
    samples and labels in order (two runs with the same digest were tested on the same samples, so their
    predictions can be compared sample by sample), from one hash of each sample."""
    train, val, test = _hashes(s.x_train), _hashes(s.x_val), _hashes(s.x_test)
    tr, va, te = set(train), set(val), set(test)
    digest = hashlib.blake2b(b"".join(test), digest_size=16)
    digest.update(np.ascontiguousarray(s.y_test).tobytes())
    out = {"val_in_train": len(va & tr), "test_in_train": len(te & tr), "test_in_val": len(te & va),
           "within_train": len(s.x_train) - len(tr)}
    if s.y_train.ndim == 1 and np.issubdtype(s.y_train.dtype, np.integer):  # classes: one input, two labels?
        every = train + val + test + (_hashes(s.x_cal) if s.x_cal is not None else [])
        ys = [s.y_train, s.y_val, s.y_test, *([s.y_cal] if s.x_cal is not None else [])]
        labels: dict[bytes, set] = {}
        for h, y in zip(every, np.concatenate(ys).tolist()):
            labels.setdefault(h, set()).add(y)
        out["conflicting_labels"] = sum(len(labels[h]) > 1 for h in every)
        out["test_conflicting"] = sum(len(labels[h]) > 1 for h in test)
    return out, digest.hexdigest()


NEAR = 0.995  # the correlation of two images' pixels from which they are one picture (Fashion-MNIST: 16 such pairs)
SHOWN_PIXELS = 64 * 64  # near-duplicate pairs of images up to this size are kept to be shown in the report


def _chunks(x: np.ndarray, floats: int = 1 << 25):
    """x in runs of images whose float copies take at most `floats` values (128 MB) together."""
    step = max(1, floats // max(1, int(np.prod(x.shape[1:], dtype=np.int64))))
    for i in range(0, len(x), step):
        yield x[i:i + step].astype(np.float32)


def _block_means(a: np.ndarray, bh: int, bw: int) -> np.ndarray:
    """(..., H, W) → the means of its bh × bw blocks of pixels (a remainder at the edge dropped)."""
    h, w = a.shape[-2:]
    a = a[..., :h // bh * bh, :w // bw * bw]
    a = a.reshape(*a.shape[:-1], w // bw, bw).sum(-1)  # (..., H, W / bw): one axis at a time, 3x faster
    return a.reshape(*a.shape[:-2], h // bh, bh, w // bw).sum(-2) / (bh * bw)


def _average_hash(x: np.ndarray, size: int = 8) -> list[bytes]:
    """Each image's average hash: the means of blocks of ⌊H / size⌋ × ⌊W / size⌋ pixels (at least size ×
    size of them; 9 × 9 for 28 × 28), channels averaged, each above or below their mean, as bits.
    Near-identical images share it; an exact search compares only within a hash."""
    h, w = x.shape[-2:]
    out = []
    for a in _chunks(x):
        a = a.reshape(len(a), -1, h, w)
        a = _block_means(a[:, 0] if a.shape[1] == 1 else a.mean(1), max(h // size, 1), max(w // size, 1))
        a = a.reshape(len(a), -1)
        out += [r.tobytes() for r in np.packbits(a > a.mean(1, keepdims=True), axis=1)]
    return out


def _standardised(x: np.ndarray, size: int = 64) -> np.ndarray:
    """Images as unit vectors of their centred pixels, larger ones first reduced to at most size × size
    block means (so that a correlation costs the same for a photograph as for a thumbnail)."""
    parts = []
    for a in _chunks(x):
        a = a.reshape(len(a), -1, *x.shape[-2:])
        h, w = a.shape[-2:]
        a = (_block_means(a, -(-h // size), -(-w // size)) if max(h, w) > size else a).reshape(len(a), -1)
        a -= a.mean(1, keepdims=True)
        norm = np.linalg.norm(a, axis=1, keepdims=True)
        parts.append(a / np.where(norm > 0, norm, 1))
    return np.concatenate(parts) if parts else np.zeros((0, 1), np.float32)


def _words(text: str) -> str:
    return " ".join(re.findall(r"\w+", str(text).casefold()))


def near_texts(test: np.ndarray, train: np.ndarray) -> list[tuple[int, int, float, str]]:
    """(test index, train index, 1.0, "") for each test text whose words, case and punctuation aside, are a
    training text's, though the two differ byte for byte (a review posted twice, re-encoded, re-spaced)."""
    seen = {}
    for i, t in enumerate(train):
        seen.setdefault(_words(t), i)
    return [(j, seen[w], 1.0, "") for j, t in enumerate(test)
            if (w := _words(t)) in seen and w and str(train[seen[w]]) != str(t)]


# a test image that is a training image mirrored or rotated (a copy augmented before the split) is a picture
# of the training set too: each transform's name (rotations counter-clockwise), and what undoes it on the
# test image
TRANSFORMS = {"": lambda a: a, "mirrored left-right": lambda a: a[..., ::-1],
              "mirrored top-bottom": lambda a: a[..., ::-1, :], "rotated 180°": lambda a: a[..., ::-1, ::-1]}
SQUARE = {"rotated 90°": lambda a: np.rot90(a, -1, (-2, -1)), "rotated 270°": lambda a: np.rot90(a, 1, (-2, -1)),
          "transposed": lambda a: np.swapaxes(a, -2, -1),
          "transposed on the other diagonal": lambda a: np.swapaxes(a[..., ::-1, ::-1], -2, -1)}


def near_duplicates(test: np.ndarray, train: np.ndarray, threshold: float = NEAR) -> list[tuple[int, int, float, str]]:
    """(test index, train index, correlation, transform) for each test image whose most similar training
    image, among those of the same average hash, correlates with it at `threshold` or more, pixel for
    pixel (at most 64 × 64 block means of them), as it is or mirrored or rotated back (the name of what
    turned the training image into the test image; "" for nothing), but is not byte for byte the same
    (exact duplicates are counted apart): the same picture re-encoded, re-scaled, touched up or augmented
    before the split, which a random split would put on both sides."""
    buckets: dict[bytes, list[int]] = {}
    for i, k in enumerate(_average_hash(train)):
        buckets.setdefault(k, []).append(i)
    transforms = TRANSFORMS | SQUARE if test.shape[-1] == test.shape[-2] else TRANSFORMS
    asked: dict[bytes, list[tuple[int, str]]] = {}  # a training hash: the test images that have it, transformed
    for name, t in transforms.items():
        for j, k in enumerate(_average_hash(t(test))):
            if k in buckets:
                asked.setdefault(k, []).append((j, name))
    best: dict[int, tuple[int, float, str, float]] = {}
    for k, js in asked.items():
        r = _standardised(train[buckets[k]])
        for start in range(0, len(js), 512):
            part = js[start:start + 512]
            rows = np.empty((len(part), r.shape[1]), np.float32)
            for name in {n for _, n in part}:  # each transform's test images at once
                at = [q for q, (_, n) in enumerate(part) if n == name]
                rows[at] = _standardised(transforms[name](test[[part[q][0] for q in at]]))
            c = rows @ r.T
            top = c.argmax(1)
            for (j, name), b, v in zip(part, top, c[np.arange(len(part)), top]):
                i = buckets[k][b]
                score = v + 1e-6 * (not name)  # as it is first: a symmetric picture's mirror image is no other copy
                better = score > best.get(j, (0, 0.0, "", -1.0))[3]
                if v >= threshold and better and not np.array_equal(test[j], train[i]):
                    best[j] = (int(i), float(v), name, score)
    return sorted((j, *f[:3]) for j, f in best.items())
