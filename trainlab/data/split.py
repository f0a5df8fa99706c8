"""Train / validation / test splits, stratified by label, and the checks for duplicates between them."""
from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass

import numpy as np

from ..core.errors import DataError
from .datasets import RawData, series_lengths


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


def _limited(raw: RawData, limit: int, seed: int, stratify: bool) -> np.ndarray:
    """The indices of the samples that data.limit keeps (drawn with `seed`, stratified by class when asked);
    all of them without a limit. (Of an official test set, its first `limit` samples are kept.)"""
    if not limit or limit >= len(raw.x):
        return np.arange(len(raw.x))
    k = len(np.unique(raw.y)) if stratify and raw.target == "class" else 0
    if limit < k:
        raise DataError(f"data.limit = {limit} keeps fewer samples than the {k} classes, so a subset stratified by "
                        f"class cannot hold one of each; raise it (training, validation and test each need every "
                        f"class: {10 * k} or more) or set data.stratify = false.")
    return np.sort(_cut(raw.y, len(raw.x) - limit, seed, stratify, "unused")[0])


def samples_read(raw: RawData, limit: int, seeds: list[int], stratify: bool) -> RawData:
    """`raw` cut to the samples that runs with data.limit = `limit` and these split seeds read (the union of
    their subsets, and the official test set's first `limit`): the data a run learned from and was tested on."""
    from dataclasses import replace

    if not limit:
        return raw
    keep = np.unique(np.concatenate([_limited(raw, limit, s, stratify) for s in seeds]))
    cut = lambda a: None if a is None else a[keep]  # noqa: E731
    first = lambda a: None if a is None else a[:limit]  # noqa: E731
    return replace(raw, x=raw.x[keep], y=raw.y[keep], x_test=first(raw.x_test), y_test=first(raw.y_test),
                   groups=cut(raw.groups), groups_test=first(raw.groups_test), time=cut(raw.time),
                   time_labels=cut(raw.time_labels),
                   subgroups=raw.subgroups and {k: cut(v) for k, v in raw.subgroups.items()},
                   subgroups_test=raw.subgroups_test and {k: first(v) for k, v in raw.subgroups_test.items()})


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
    keep = _limited(raw, limit, cv[2] if cv else seed, stratify)
    if len(keep) < len(x):
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
        x_test, y_test, g_test = raw.x_test, raw.y_test, raw.groups_test
        if limit and limit < len(x_test):
            x_test, y_test, g_test = x_test[:limit], y_test[:limit], None if g_test is None else g_test[:limit]
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


def sample_hashes(x: np.ndarray) -> list[bytes]:
    """One hash of each sample's bytes (a text's characters): equal for exact copies."""
    if x.dtype == object:  # texts
        return [hashlib.blake2b(str(t).encode(), digest_size=16).digest() for t in x]
    rows = np.ascontiguousarray(x).reshape(len(x), -1)
    return [hashlib.blake2b(r.tobytes(), digest_size=16).digest() for r in rows]


def duplicates(s: Split) -> tuple[dict[str, int], str]:
    """Exact duplicates (same bytes) between splits (a test sample seen in training inflates the test
    score) and within the training and test splits, for classes the samples whose inputs recur with
    another label (no model gets all of them right: a labelling error, or inputs that do not decide the
    class), and a digest of the test set, its samples and labels in order (two runs with the same digest
    were tested on the same samples, so their predictions can be compared sample by sample), from one
    hash of each sample."""
    train, val, test = sample_hashes(s.x_train), sample_hashes(s.x_val), sample_hashes(s.x_test)
    tr, va, te = set(train), set(val), set(test)
    digest = hashlib.blake2b(b"".join(test), digest_size=16)
    digest.update(np.ascontiguousarray(s.y_test).tobytes())
    out = {"val_in_train": len(va & tr), "test_in_train": len(te & tr), "test_in_val": len(te & va),
           "within_train": len(s.x_train) - len(tr), "within_test": len(s.x_test) - len(te)}
    if s.y_train.ndim == 1 and np.issubdtype(s.y_train.dtype, np.integer):  # classes: one input, two labels?
        every = train + val + test + (sample_hashes(s.x_cal) if s.x_cal is not None else [])
        ys = [s.y_train, s.y_val, s.y_test, *([s.y_cal] if s.x_cal is not None else [])]
        labels: dict[bytes, set] = {}
        for h, y in zip(every, np.concatenate(ys).tolist()):
            labels.setdefault(h, set()).add(y)
        out["conflicting_labels"] = sum(len(labels[h]) > 1 for h in every)
        out["test_conflicting"] = sum(len(labels[h]) > 1 for h in test)
    return out, digest.hexdigest()


NEAR = 0.995  # the correlation of two images' pixels from which they are one picture (Fashion-MNIST: 16 such pairs)
OVERLAP = 0.5  # two series with the same values over this share of a series' steps, shifted: windows of one recording
CANDIDATES = 64  # a window of steps that this many training series hold is too common to say which one it came from
SAME_RECORDING = 0.999  # the correlation of each value over the steps two series share from which they are one recording
SHOWN_PIXELS = 64 * 64  # near-duplicate pairs of images up to this size are kept to be shown in the report


def _runs(x: np.ndarray, values: int):
    """x in runs of images of at most `values` values together."""
    step = max(1, values // max(1, int(np.prod(x.shape[1:], dtype=np.int64))))
    for i in range(0, len(x), step):
        yield x[i:i + step]


def _chunks(x: np.ndarray, floats: int = 1 << 25):
    """x in runs of images whose float copies take at most `floats` values (128 MB) together."""
    for a in _runs(x, floats):
        yield a.astype(np.float32)


def _block_sums(a: np.ndarray, bh: int, bw: int) -> np.ndarray:
    """(..., H, W) → the sums of its bh × bw blocks of pixels (a remainder at the edge dropped), as two
    products with 0/1 matrices (exact for integer pixels; 4x faster than reshaped sums). Integer pixels
    are added as float64, which no 8- or 16-bit image overflows."""
    h, w = a.shape[-2:]
    if not np.issubdtype(a.dtype, np.floating):
        a = a.astype(np.float64)
    rows = (np.arange(h)[:, None] // bh == np.arange(h // bh)).astype(a.dtype)
    cols = (np.arange(w)[:, None] // bw == np.arange(w // bw)).astype(a.dtype)
    t = (a.reshape(-1, w) @ cols).reshape(*a.shape[:-2], h, w // bw)
    return np.swapaxes(np.swapaxes(t, -1, -2) @ rows, -1, -2)


def _bits(blocks: np.ndarray) -> list[bytes]:
    """(n, blocks) sums of pixels → each image's blocks above or below their mean, as bits (from exact sums
    for integer pixels, however they were added)."""
    blocks = blocks.astype(np.float64)
    bits = np.packbits(blocks * blocks.shape[1] > blocks.sum(1, keepdims=True), axis=1)
    return bits.view(f"V{bits.shape[1]}").ravel().tolist()  # one bytes each


def _average_hash(x: np.ndarray, size: int = 8) -> list[bytes]:
    """Each image's average hash: the sums of blocks of ⌊H / size⌋ × ⌊W / size⌋ pixels (at least size ×
    size of them; 9 × 9 for 28 × 28), channels added, each above or below their mean, as bits.
    Near-identical images share it; an exact search compares only within a hash."""
    h, w = x.shape[-2:]
    out = []
    for a in _chunks(x):
        a = a.reshape(len(a), -1, h, w)
        a = _block_sums(a[:, 0] if a.shape[1] == 1 else a.sum(1), max(h // size, 1), max(w // size, 1))
        out += _bits(a.reshape(len(a), -1))
    return out


def _window_hashes(x: np.ndarray, corners: list[tuple[int, int]], h: int, w: int, size: int = 8) -> list[list[bytes]]:
    """_average_hash of each image's h × w window at each of `corners` (top, left), one list per corner,
    from the images' summed-area tables (each block's sum from its corners, channels added, exact for
    integer pixels): cheap for many windows of small images."""
    bh, bw = max(h // size, 1), max(w // size, 1)
    rows = np.array([t for t, _ in corners])[:, None] + np.arange(h // bh + 1) * bh  # (windows, blocks + 1)
    cols = np.array([left for _, left in corners])[:, None] + np.arange(w // bw + 1) * bw
    out: list[list[bytes]] = [[] for _ in corners]
    whole = int(np.prod(x.shape[1:]))  # an image's values, which its table adds up
    exact = np.float64 if not (np.issubdtype(x.dtype, np.integer) or x.dtype == bool) else \
        np.int32 if np.iinfo(x.dtype).max * whole < 2 ** 31 else np.int64
    gathered = rows.size * cols.shape[1]  # the blocks' corners of one image, 16 MB of them at a time
    for a in _runs(x, max(1, (1 << 21) // gathered) * whole):
        a = a.reshape(len(a), -1, *a.shape[-2:])
        a = a.sum(1, dtype=exact)
        s = np.zeros((len(a), a.shape[1] + 1, a.shape[2] + 1), a.dtype)
        np.cumsum(np.cumsum(a, 1), 2, out=s[:, 1:, 1:])
        c = s[:, rows[:, :, None], cols[:, None, :]]  # (n, windows, blocks + 1, blocks + 1)
        blocks = c[..., 1:, 1:] - c[..., :-1, 1:] - c[..., 1:, :-1] + c[..., :-1, :-1]
        bits = _bits(blocks.reshape(len(a) * len(corners), -1))
        for k, hashes in enumerate(out):
            hashes += bits[k::len(corners)]
    return out


def _standardised(x: np.ndarray, size: int = 64) -> np.ndarray:
    """Images as unit vectors of their centred pixels, larger ones first reduced to at most size × size
    block means (so that a correlation costs the same for a photograph as for a thumbnail)."""
    parts = []
    for a in _chunks(x):
        a = a.reshape(len(a), -1, *x.shape[-2:])
        h, w = a.shape[-2:]
        a = (_block_sums(a, -(-h // size), -(-w // size)) if max(h, w) > size else a).reshape(len(a), -1)
        a -= a.mean(1, keepdims=True)
        norm = np.linalg.norm(a, axis=1, keepdims=True)
        parts.append(a / np.where(norm > 0, norm, 1))
    return np.concatenate(parts) if parts else np.zeros((0, 1), np.float32)


def _window_keys(x: np.ndarray, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Each series' windows of `w` steps to the next, as the directions its values move in (down, still,
    up; bytes), (N, T - w): the same for a window shifted, rescaled or offset, as a recording's windows
    are once each is normalised; and which of them tell something (no NaN, not still throughout)."""
    with np.errstate(invalid="ignore"):
        moves = np.sign(np.diff(x.astype(np.float32), axis=1))  # (N, T - 1, F)
    win = np.lib.stride_tricks.sliding_window_view(moves, w, axis=1)  # (N, T - w, F, w)
    win = np.ascontiguousarray(np.swapaxes(win, -1, -2)).reshape(*win.shape[:2], -1)  # (N, T - w, w · F)
    useful = ~np.isnan(win).any(-1) & (win != 0).any(-1)
    win = np.nan_to_num(win).astype(np.int8)
    return win.view(np.dtype((np.void, win.shape[-1])))[..., 0], useful


def _same_recording(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two stretches (L, F) are one recording's, each value perhaps offset or rescaled: every value
    that moves correlates at SAME_RECORDING or more."""
    a, b = a.astype(np.float64) - a.mean(0), b.astype(np.float64) - b.mean(0)
    na, nb = np.linalg.norm(a, axis=0), np.linalg.norm(b, axis=0)
    moving = (na > 1e-12) & (nb > 1e-12)
    return bool(moving.any() and ((a * b).sum(0)[moving] / (na * nb)[moving] >= SAME_RECORDING).all()
                and ((na > 1e-12) == (nb > 1e-12)).all())


def overlapping_series(test: np.ndarray, train: np.ndarray, share: float = OVERLAP) -> list[tuple[int, int, int, int]]:
    """(test index, train index, shift, steps shared) for each test series (N, T, F) that moves as a training
    series does over `share` of its steps or more, shifted in time (`shift` > 0: the test series starts that
    many steps into the training one; < 0: the training series starts inside it), each value there the
    training one's offset or rescaled (correlation ≥ SAME_RECORDING), and is not its copy: windows cut with
    overlap from one recording, which a random split puts on both sides. Found by the first and the last
    window (24 moves or more) of the test series' part that any such overlap holds, looked up among every
    training window by the directions its values move in (128 MB of training windows at a time); a window
    more than CANDIDATES training windows share (of those at a time) is passed over."""
    n_test, t, f = test.shape
    need = max(2, int(np.ceil(share * t)))
    if t < need:  # (a series of one step)
        return []
    w = min(need - 1, max(1, -(-24 // f)))
    test_keys, test_useful = _window_keys(test, w)
    len_train, len_test = series_lengths(train, "training"), series_lengths(test, "test")
    anchors = []  # (test series, its step) of the windows looked up
    for j in range(n_test):
        m = int(len_test[j])
        if m >= need:
            anchors += [(j, a) for a in [a for a in range(0, need - w) if test_useful[j, a]][:1]  # in every overlap
                        + [a for a in range(m - need, m - w) if test_useful[j, a]][-1:]]  # from the start, to the end
    best: dict[int, tuple[int, int, int]] = {}
    per_series = (t - w) * (w * f + 4 * f)  # bytes of one training series' windows and moves
    for start in range(0, len(train), max(1, (1 << 27) // per_series)):  # 128 MB of training windows at a time
        part = train[start:start + max(1, (1 << 27) // per_series)]
        keys, useful = _window_keys(part, w)
        order = np.argsort(keys, axis=None, kind="stable")
        sorted_keys = keys.reshape(-1)[order]
        for j, a in anchors:
            m = int(len_test[j])
            lo, hi = np.searchsorted(sorted_keys, test_keys[j, a]), np.searchsorted(sorted_keys, test_keys[j, a], "right")
            if hi - lo > CANDIDATES:
                continue
            for flat in order[lo:hi]:
                row, step = divmod(int(flat), keys.shape[1])
                i = start + row
                if not useful[row, step]:
                    continue
                k = step - a  # test step s is training step s + k
                first, last = max(0, -k), min(m, int(len_train[i]) - k)
                steps = last - first
                if steps < need or steps <= best.get(j, (0, 0, 0))[2]:
                    continue
                mine, theirs = test[j, first:last], train[i, first + k:last + k]
                if _same_recording(mine, theirs) and not (k == 0 and m == len_train[i] and np.array_equal(mine, theirs)):
                    best[j] = (i, k, steps)
    return sorted((j, *found) for j, found in best.items())


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


SHIFTED = "shifted"  # a test image that is a training image moved by a few pixels (a random crop of a padded copy)
MAX_SHIFT = 4  # pixels, and at most an eighth of the side: CIFAR-10's usual crop of a copy padded by 4


def largest_shift(h: int, w: int) -> int:
    """How far a shifted copy is looked for: images of up to 64 × 64 pixels (larger ones are compared at
    64 × 64 block means, where a shift of a few pixels blurs into the blocks), by up to an eighth of the
    shorter side, at most MAX_SHIFT pixels (3 for 28 × 28)."""
    return min(MAX_SHIFT, min(h, w) // 8) if h * w <= SHOWN_PIXELS else 0


def _shift_name(dy: int, dx: int, mirrored: bool = False) -> str:
    moves = [f"{abs(d)} px {way[int(d > 0)]}" for d, way in ((dy, ("up", "down")), (dx, ("left", "right"))) if d]
    return f"{'mirrored left-right and ' if mirrored else ''}{SHIFTED} {', '.join(moves)}"


def near_duplicates(test: np.ndarray, train: np.ndarray, threshold: float = NEAR) -> list[tuple[int, int, float, str]]:
    """(test index, train index, correlation, transform) for each test image whose most similar training
    image, among those of the same average hash, correlates with it at `threshold` or more, pixel for
    pixel (at most 64 × 64 block means of them), as it is, mirrored or rotated back, or shifted back by up
    to a few pixels (largest_shift; found by the hash of the middle every shift keeps, compared where the
    two overlap) (the name of what turned the training image into the test image; "" for nothing), but is
    not byte for byte the same (exact duplicates are counted apart): the same picture re-encoded,
    re-scaled, touched up or augmented before the split, which a random split would put on both sides."""
    best: dict[int, tuple[int, float, str, float]] = {}
    transforms = TRANSFORMS | SQUARE if test.shape[-1] == test.shape[-2] else TRANSFORMS
    _search(best, test, train, {name: _average_hash(t(test)) for name, t in transforms.items()}, transforms,
            train, threshold)
    h, w = test.shape[-2:]
    if m := largest_shift(h, w):  # found by the part every shift keeps, then compared where the two overlap
        offsets = [(dy, dx) for dy in range(-m, m + 1) for dx in range(-m, m + 1) if dy or dx]
        moves, hashes, views = {}, {}, {}
        for mirrored in (False, True):  # as it is, and mirrored (a flip and a crop: the usual augmentation)
            # the training image moved by (dy, dx) is the test image, or its mirror image: the training image
            # mirrored left-right, then moved by (dy, -dx)
            names = [_shift_name(dy, -dx if mirrored else dx, mirrored) for dy, dx in offsets]
            hashes.update(zip(names, _window_hashes(test[..., ::-1] if mirrored else test,
                                                    [(m + dy, m + dx) for dy, dx in offsets], h - 2 * m, w - 2 * m)))
            for name, (dy, dx) in zip(names, offsets):
                moves[name] = (dy, dx, mirrored)
                views[name] = lambda a, dy=dy, dx=dx, f=mirrored: \
                    (a[..., ::-1] if f else a)[..., m + dy:h - m + dy, m + dx:w - m + dx]
        shifted: dict[int, tuple[int, float, str, float]] = {}
        _search(shifted, test, train, hashes, views, train[..., m:h - m, m:w - m], threshold)
        for j, (i, _, name, _) in shifted.items():
            dy, dx, mirrored = moves[name]
            v = _overlap_correlation(test[j][..., ::-1] if mirrored else test[j], train[i], dy, dx)
            if v >= threshold and v - 1e-6 > best.get(j, (0, 0.0, "", -1.0))[3]:
                best[j] = (i, v, name, v - 1e-6)
    return sorted((j, *f[:3]) for j, f in best.items())


def _overlap_correlation(test: np.ndarray, train: np.ndarray, dy: int, dx: int) -> float:
    """The pixels' correlation of a test image and a training image moved by dy, dx, where they overlap."""
    h, w = test.shape[-2:]
    a = test[..., max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)]
    b = train[..., max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return float((_standardised(a[None]) @ _standardised(b[None]).T)[0, 0])


def _search(best: dict, test: np.ndarray, train: np.ndarray, hashes: dict[str, list[bytes]], views: dict,
            seen: np.ndarray, threshold: float) -> None:
    """near_duplicates' search for one way of looking: `hashes` of each view of the test images (its name:
    a hash per image; `views`: its name: what makes it from images), correlated with the training images
    `seen` so (the whole images, or the part a shifted copy keeps) of the same hash; each test image's best
    match kept in `best`, as it is first (a symmetric picture's mirror image is no other copy)."""
    buckets: dict[bytes, list[int]] = {}
    for i, k in enumerate(_average_hash(seen)):
        buckets.setdefault(k, []).append(i)
    asked: dict[bytes, list[tuple[int, str]]] = {}  # a training hash: the test images that have it, in a view
    for name, keys in hashes.items():
        for j, k in enumerate(keys):
            if k in buckets:
                asked.setdefault(k, []).append((j, name))
    group: list[bytes] = []
    values, dim = 0, int(np.prod(seen.shape[1:]))
    for k, js in asked.items():  # buckets in groups of about 64 MB of pixels, each group's images made unit
        group.append(k)          # vectors at once (one call per view: many small buckets cost little)
        values += (len(buckets[k]) + len(js)) * dim
        if values >= 1 << 24:
            _correlate(best, test, train, group, buckets, asked, views, seen, threshold)
            group, values = [], 0
    if group:
        _correlate(best, test, train, group, buckets, asked, views, seen, threshold)


def _correlate(best: dict, test, train, group: list[bytes], buckets: dict, asked: dict, views: dict, seen, threshold):
    """_search's correlations for the training hashes of `group`: each test image asked in a view against the
    training images of its hash, 512 test images at a time."""
    at = np.cumsum([0] + [len(buckets[k]) for k in group])
    r = _standardised(seen[np.concatenate([buckets[k] for k in group])])
    pairs = [p for k in group for p in asked[k]]
    by_view: dict[str, list[int]] = {}
    for q, (_, name) in enumerate(pairs):
        by_view.setdefault(name, []).append(q)
    rows = np.empty((len(pairs), r.shape[1]), np.float32)
    for name, which in by_view.items():  # each view's test images at once
        rows[which] = _standardised(views[name](test[[pairs[q][0] for q in which]]))
    first = 0
    for b, k in enumerate(group):
        for start in range(0, len(asked[k]), 512):
            part = asked[k][start:start + 512]
            c = rows[first:first + len(part)] @ r[at[b]:at[b + 1]].T
            first += len(part)
            top = c.argmax(1)
            for (j, name), t, v in zip(part, top, c[np.arange(len(part)), top]):
                i = buckets[k][t]
                score = v + 1e-6 * (not name)
                better = score > best.get(j, (0, 0.0, "", -1.0))[3]
                if v >= threshold and better and not np.array_equal(test[j], train[i]):
                    best[j] = (int(i), float(v), name, score)
