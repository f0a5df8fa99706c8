"""Raw data → split → normalised arrays and the DataSpec the model is built from."""
from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

import numpy as np

from ..core.errors import DataError
from ..core.spec import DataSpec
from .datasets import DATASETS, RawData, series_lengths
from .sources import consecutive_ids
from .split import (NEAR, OVERLAP, SAME_RECORDING, SHIFTED, SHOWN_PIXELS, Split, duplicates, largest_shift,
                    near_duplicates, near_texts, overlapping_series, split)
from .transforms import Normalizer


@dataclass
class Prepared:
    spec: DataSpec
    split: Split            # normalised float32 inputs; targets standardised for regression
    normalizer: Normalizer
    summary: dict           # sizes, class balance, duplicates: for the report
    tokenizer: object = None  # text: the WordTokenizer fitted on the training split
    subgroups: dict | None = None  # data.subgroups: name → each test sample's value (evaluate/subgroups.py)


KINDS = {"image": ("class", "real", "mask"), "table": ("class", "real"), "points": ("class", "real"),
         "series": ("class", "real"),
         "text": ("class",), "sequence": ("sequence",)}  # what each kind of input can be trained to predict


def load_raw(name: str, params: dict) -> RawData:
    entry = DATASETS.get(name)
    raw = entry.build(**params)
    if not entry.builtin:  # a user's: checked for what trainlab's own datasets guarantee
        _check_user_data(raw, f"Dataset {name!r} ({entry.where})")
    raw.validate()
    if raw.kind in ("table", "points", "series") and not raw.feature_names:  # named in reports, predict and serve
        raw.feature_names = tuple(f"x{i + 1}" for i in range(int(np.prod(raw.x.shape[1 + (raw.kind == "series"):]))))
    if raw.kind == "image" and raw.x.ndim == 3:  # (N, H, W) → (N, 1, H, W)
        raw.x = raw.x[:, None]
        raw.x_test = raw.x_test[:, None] if raw.x_test is not None else None
    return raw


def _check_user_data(raw, where: str) -> None:
    if not isinstance(raw, RawData):
        raise DataError(f"{where} returned a {type(raw).__name__}; a dataset builder returns trainlab.RawData(x, y, "
                        "kind, target, source, class_names=...).")
    if raw.kind not in KINDS or raw.target not in KINDS[raw.kind]:
        raise DataError(f"{where}: kind {raw.kind!r} with target {raw.target!r}; the kinds and their targets are "
                        + "; ".join(f"{k}: {', '.join(t)}" for k, t in KINDS.items()) + ".")
    for part, x, y in (("", raw.x, raw.y), ("test ", raw.x_test, raw.y_test)):
        if (x is None) != (y is None):
            raise DataError(f"{where}: x_{part.strip() or 'train'} and its labels come together; one of them is None.")
        if x is None:
            continue
        if not isinstance(x, np.ndarray) or not isinstance(y, np.ndarray):
            raise DataError(f"{where}: the {part}inputs and labels must be NumPy arrays; received "
                            f"{type(x).__name__} and {type(y).__name__}.")
        if raw.kind != "text" and not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
            raise DataError(f"{where}: the {part}inputs hold {x.dtype}; {raw.kind} inputs are numbers.")
        if raw.target in ("class", "sequence") and not np.issubdtype(y.dtype, np.integer):
            raise DataError(f"{where}: class labels must be integers 0..{max(len(raw.class_names) - 1, 0)} (the "
                            f"index into class_names); the {part}labels are {y.dtype}.")
        if raw.target == "mask":  # instance ids with gaps (1, 2, 7) are k objects: renumbered 1..k, as the readers do
            if not np.issubdtype(y.dtype, np.integer) and not (np.issubdtype(y.dtype, np.floating)
                                                               and np.array_equal(y, np.round(y))):
                raise DataError(f"{where}: the {part}masks hold {y.dtype} values; a mask holds integer instance ids "
                                "(0 background, 1..k objects, -1 padding).")
            if y.ndim == 3 and len(y):  # (validate says what else it should be)
                setattr(raw, "y_test" if part else "y", np.stack([consecutive_ids(m.astype(np.int32)) for m in y]))


def prepare(raw: RawData, *, val_fraction: float, test_fraction: float, stratify: bool, normalize: str,
            seed: int, limit: int = 0, max_vocab: int = 20000, max_len: int = 128, tokenizer: str = "word",
            cv: tuple[int, int, int] | None = None, train_fraction: float = 1.0,
            calibration_fraction: float = 0.0, time_window: int = 0, find_near: bool = True) -> Prepared:
    """The split, normalised and described (sizes, class counts, duplicates, ...); `find_near`: also look for
    near-identical test and training images and texts (2 s for 70,000 images), and check a test set not
    drawn at random for inputs that differ (data/shift.py): what the report says, which a run's export and
    explanations (they prepare its split again), a sweep trial or lr-find need not."""
    s = split(raw, val_fraction=val_fraction, test_fraction=test_fraction, stratify=stratify, seed=seed, limit=limit,
              cv=cv, train_fraction=train_fraction, calibration_fraction=calibration_fraction, time_window=time_window)
    cal = s.x_cal is not None
    dups, digest = duplicates(s)
    near = _near(s, raw.kind) if find_near and raw.kind in ("image", "text", "series") else None  # (texts before ids)
    shifted = _shift(raw, s) if find_near else None
    tok = None
    if raw.kind == "text":  # a word vocabulary comes from the training split only
        from .text import PretrainedTokenizer, WordTokenizer

        tok = WordTokenizer.fit(s.x_train, max_vocab, max_len) if tokenizer == "word" else PretrainedTokenizer(tokenizer, max_len)
        s = replace(s, x_train=tok.encode(s.x_train), x_val=tok.encode(s.x_val), x_test=tok.encode(s.x_test),
                    x_cal=tok.encode(s.x_cal) if cal else None)
        norm = Normalizer("none", "tokens")
    elif raw.kind == "sequence":
        norm = Normalizer("none", "tokens")
    else:
        if raw.missing:
            _check_fillable(s.x_train, raw.feature_names)
        norm = Normalizer.fit(s.x_train, normalize, raw.kind, s.y_train if raw.target == "real" else None,
                              fill=raw.missing)
    ys = (s.y_train, s.y_val, s.y_test, s.y_cal)
    if raw.target == "real":
        ys = tuple(None if y is None else norm.apply_target(y) for y in ys)
    ns = replace(s, x_train=norm.apply(s.x_train), y_train=ys[0], x_val=norm.apply(s.x_val), y_val=ys[1],
                 x_test=norm.apply(s.x_test), y_test=ys[2], x_cal=norm.apply(s.x_cal) if cal else None, y_cal=ys[3])
    parts = {"train": (s.x_train, s.y_train), "val": (s.x_val, s.y_val), "test": (s.x_test, s.y_test),
             **({"calibration": (s.x_cal, s.y_cal)} if cal else {})}
    steps = np.concatenate([series_lengths(x, raw.source) for x, _ in parts.values()]) if raw.kind == "series" else None
    spec = DataSpec(
        kind=raw.kind, input_shape=tuple(s.x_train.shape[1:]), target=raw.target,
        vocab_size=tok.vocab_size if tok else len(raw.class_names) if raw.kind == "sequence" else 0,
        num_classes=len(raw.class_names) if raw.target in ("class", "sequence") else 0,
        class_names=raw.class_names, feature_names=raw.feature_names,
        columns=raw.columns if raw.categories else (), categories=tuple((raw.categories or {}).items()),
        num_targets=1 if raw.y.ndim == 1 or raw.target == "mask" else raw.y.shape[1],  # sequences: the target length
        padded=bool(steps is not None and steps.min() < s.x_train.shape[1]),
    )
    summary = {
        "source": raw.source,
        "sizes": {part: len(x) for part, (x, _) in parts.items()},
        "official_test": s.official_test,
        "input_shape": list(spec.input_shape),
        "duplicates": dups, "test_digest": digest,
        "normalize": normalize if tok is None else "none (token ids)",
    }
    if near is not None:  # the same picture or text on both sides, not byte for byte
        summary["near_duplicates"] = near
    if shifted is not None:  # a test set not drawn at random from the data: from the same distribution?
        summary["shift"] = shifted
    if spec.padded:  # series of several lengths: how many steps they have
        summary["series_steps"] = {"shortest": int(steps.min()), "median": float(np.median(steps)),
                                   "longest": int(steps.max())}
    if s.periods is not None:  # split in time order: when each part was taken
        summary["periods"] = s.periods
    if s.groups is not None:  # the guarantee the report states: no group in two splits
        ids = {part: set(a.tolist()) for part, a in zip(parts, s.groups) if a is not None}  # (none: official test)
        seen = [i for a, b in itertools.combinations(ids.values(), 2) for i in a & b]
        summary["groups"] = {"count": len(set().union(*ids.values())), **{p: len(i) for p, i in ids.items()},
                             "in_two_splits": len(set(seen))}
    if raw.categories:
        summary["categories"] = {c: list(v) for c, v in raw.categories.items()}
    if raw.missing:  # how many cells each split had filled, and with what
        gaps = {part: np.isnan(x).sum(0) for part, (x, _) in parts.items()}
        summary["missing"] = {name: {"median": norm.fill[j], **{part: int(g[j]) for part, g in gaps.items()}}
                              for j, name in enumerate(raw.feature_names) if any(g[j] for g in gaps.values())}
    if raw.truth is not None:
        summary["truth"] = raw.truth
    if tok is not None:
        summary["text"] = {"tokenizer": tokenizer, "vocabulary": tok.vocab_size, "max_len": tok.max_len,
                           "truncated_share": float((s.x_train[:, -1] != 0).mean())}
    if raw.target == "class":
        summary["class_counts"] = {part: np.bincount(y, minlength=spec.num_classes).tolist()
                                   for part, (_, y) in parts.items()}
    from ..evaluate.subgroups import values_of_test

    return Prepared(spec, ns, norm, summary, tok, values_of_test(raw, s))


def _near(s: Split, kind: str) -> dict:
    """The test images (texts) with a near-identical training one (split.near_duplicates, near_texts),
    counted, and the first few pairs: the test sample's index in the data as read, and both images when
    they are small, or both texts."""
    if kind == "series":  # windows of one recording on both sides
        found = overlapping_series(s.x_test, s.x_train)
        pairs = [{"sample": int(s.test_index[j]) if s.test_index is not None else j, "shift": k, "steps": n}
                 for j, _, k, n in found[:8]]
        return {"kind": kind, "share": OVERLAP, "threshold": SAME_RECORDING, "steps": int(s.x_test.shape[1]),
                "test_in_train": len(found), "pairs": pairs}
    if kind == "text":
        found = near_texts(s.x_test, s.x_train)
        shown = lambda j, i: {"test_text": str(s.x_test[j])[:300], "train_text": str(s.x_train[i])[:300]}  # noqa: E731
    else:
        found = near_duplicates(s.x_test, s.x_train)
        small = int(np.prod(s.x_test.shape[-2:])) <= SHOWN_PIXELS
        shown = lambda j, i: ({"test_image": s.x_test[j].tolist(), "train_image": s.x_train[i].tolist()}  # noqa: E731
                              if small else {})
    pairs = [{"sample": int(s.test_index[j]) if s.test_index is not None else j, "correlation": round(c, 5),
              **({"transform": t} if t else {}), **shown(j, i)} for j, i, c, t in found[:8]]
    transformed: dict[str, int] = {}
    for *_, t in found:  # each mirroring or rotation apart, the shifts together
        if t:
            t = SHIFTED if SHIFTED in t else t
            transformed[t] = transformed.get(t, 0) + 1
    shift = {"largest_shift": largest_shift(*s.x_test.shape[-2:])} if kind == "image" else {}
    return {"kind": kind, "threshold": NEAR if kind == "image" else "the same words", "test_in_train": len(found),
            "pairs": pairs, **shift, **({"transformed": transformed} if transformed else {})}


def _shift(raw: RawData, s: Split) -> dict | None:
    """Whether the test inputs (images, tables, texts), classes or targets differ from the training ones
    (data/shift.py), for a test set not drawn at random from the data: the official one, the latest
    samples, or other groups (each group then one unit of the check)."""
    why = "official" if s.official_test else "time" if s.periods is not None else "groups" if s.groups is not None \
        else None
    if why is None or not len(s.x_train) or not len(s.x_test):
        return None
    from . import shift

    out = {"why": why}
    groups = None if s.groups is None or s.groups[2] is None else (s.groups[0], s.groups[2])
    if raw.kind in ("image", "table", "text", "series"):
        out = shift.check(s.x_train, s.x_test, raw.kind, why, raw.feature_names, groups)
    if raw.target == "class":  # and its classes, in the same proportions? (with groups, the groups' classes)
        counted = shift.classes(s.y_train, s.y_test, raw.class_names, groups)
        if counted is not None:
            out["classes"] = counted
    if raw.target == "real" and groups is None:  # its targets, from the same distribution?
        out["targets"] = shift.targets(s.y_train, s.y_test)
    return out if len(out) > 1 else None


def _check_fillable(x: np.ndarray, names) -> None:
    empty = np.flatnonzero(np.isnan(x).all(0))
    if len(empty):
        raise DataError(f"Column {names[empty[0]]!r} has no value in the training split, so no median to fill it "
                        "with; leave it out with data.features.")


def prepare_config(cfg, seed: int, raw: RawData | None = None, folds: int = 0, base_seed: int = 0,
                   find_near: bool = True) -> Prepared:
    """Split and normalise as a recipe's [data] section (a core.config.DataConfig) says; the
    dataset is read unless `raw` is given (repeats share one read). With `folds` (eval.folds), the
    run with `seed` tests fold seed − base_seed of the folds drawn with `base_seed` (the recipe's seed)."""
    raw = raw if raw is not None else load_raw(cfg.name, cfg.params)
    return prepare(raw, val_fraction=cfg.val_fraction, test_fraction=cfg.test_fraction, stratify=cfg.stratify,
                   normalize=cfg.normalize, seed=seed, limit=cfg.limit, max_vocab=cfg.max_vocab, max_len=cfg.max_len,
                   tokenizer=cfg.tokenizer, cv=(folds, seed - base_seed, base_seed) if folds else None,
                   train_fraction=cfg.train_fraction, calibration_fraction=cfg.calibration_fraction,
                   time_window=cfg.time_window, find_near=find_near)


def prepare_from_recipe(recipe: dict, seed: int) -> Prepared:
    """The exact split and normalisation a run used, from its stored (resolved) recipe and seed."""
    from ..core.config import DataConfig

    return prepare_config(DataConfig.model_validate(recipe["data"]), seed,
                          folds=recipe.get("eval", {}).get("folds", 0), base_seed=recipe.get("seed", 0), find_near=False)
