"""The dataset registry. A dataset builder returns RawData: arrays as read, before any split
or normalisation, plus what the data means (kind, target, class names)."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from ..core.errors import DataError
from ..core.registry import Registry, Size
from . import sources

DATASETS = Registry("dataset")

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


@dataclass
class RawData:
    x: np.ndarray                 # (N, ...) uint8 images or float32 features
    y: np.ndarray                 # (N,) int64 classes or (N,) / (N, K) float32 targets
    kind: str                     # "image" | "table" | "points" | "series" (N, T, F): T steps of F values
    target: str                   # "class" | "real" | "sequence" | "mask" (instance labels per pixel)
    source: str                   # where it came from, for the report
    class_names: tuple[str, ...] = ()
    feature_names: tuple[str, ...] = ()
    x_test: np.ndarray | None = None   # the dataset's official test set, when it has one
    y_test: np.ndarray | None = None
    truth: dict | None = None          # a generated set's true density, when it is known (for the report)
    columns: tuple[str, ...] = ()      # tables: the input columns, before one-hot encoding
    categories: dict | None = None     # tables: categorical column → its values, one feature each
    missing: bool = False              # tables: NaN marks a missing number, filled with the training median
    groups: np.ndarray | None = None   # (N,) group ids (e.g. patients): a group never spans two splits
    groups_test: np.ndarray | None = None  # ... of the official test set's samples (ids shared with `groups`)
    subgroups: dict | None = None      # name → (N,) str array (sex, site): test metrics are also given per value
    subgroups_test: dict | None = None  # ... of the official test set's samples, when there is one
    time: np.ndarray | None = None     # (N,) when each sample was taken (float): split in time order, the test last
    time_labels: np.ndarray | None = None  # ... as the data wrote it (2024-03-01), for the report

    def validate(self) -> "RawData":
        """Samples there, labels in range, no NaN or infinite values; errors name the sample."""
        if self.target == "class" and len(self.class_names) < 2:
            raise DataError(f"{self.source}: {len(self.class_names)} class ({', '.join(map(str, self.class_names))}); "
                            "a classifier needs at least two.")
        for name, v in (self.subgroups or {}).items():
            test = (self.subgroups_test or {}).get(name)
            if len(v) != len(self.x) or self.x_test is not None and (test is None or len(test) != len(self.x_test)):
                raise DataError(f"{self.source}: subgroup {name!r} needs one value per sample: {len(v)} for "
                                f"{len(self.x)} samples" + (f", {'none' if test is None else len(test)} for the "
                                                            f"{len(self.x_test)} test samples" if self.x_test is not None
                                                            else "") + ".")
        for part, ids, x in (("", self.groups, self.x), ("test ", self.groups_test, self.x_test)):
            if ids is not None and (x is None or len(ids) != len(x)):
                raise DataError(f"{self.source}: {len(ids)} {part}group ids for "
                                f"{'no' if x is None else len(x)} {part}samples; a group id is one per sample.")
        features = int(np.prod(self.x.shape[1:]))
        if self.kind == "series":  # one name per value of a step
            features = self.x.shape[-1]
        if self.kind in ("table", "points", "series") and self.feature_names and len(self.feature_names) != features:
            raise DataError(f"{self.source}: {len(self.feature_names)} feature names for {features} features.")
        for part, x, y in (("training", self.x, self.y), ("test", self.x_test, self.y_test)):
            if x is None:
                continue
            if len(x) != len(y):
                raise DataError(f"{self.source}: {len(x)} {part} samples but {len(y)} labels.")
            if not len(x):
                raise DataError(f"{self.source}: no {part} samples.")
            if x.shape[1:] != self.x.shape[1:]:
                raise DataError(f"{self.source}: test inputs are {list(x.shape[1:])} per sample, training inputs "
                                f"{list(self.x.shape[1:])}.")
            if self.kind == "series":  # NaN only as the steps that pad a shorter series to the longest
                series_lengths(x, f"{self.source}: {part}")
            bad = np.isinf(x) if self.missing or self.kind == "series" else ~np.isfinite(x) \
                if np.issubdtype(x.dtype, np.floating) else None
            if bad is not None and bad.any():
                row, col = np.argwhere(bad.reshape(len(x), -1))[0]
                raise DataError(f"{self.source}: {part} sample {row}, feature {col} is {x.reshape(len(x), -1)[row, col]}; "
                                "the data must be finite. Clean or impute it first.")
            if self.target == "class":
                bad = np.flatnonzero((y < 0) | (y >= len(self.class_names)))
                if len(bad):
                    raise DataError(f"{self.source}: {part} label {y[bad[0]]} at sample {bad[0]} is out of range; "
                                    f"this dataset has {len(self.class_names)} classes (labels 0..{len(self.class_names) - 1}).")
            elif self.target == "mask":
                if y.shape != (len(x), *x.shape[-2:]):
                    raise DataError(f"{self.source}: masks have shape {list(y.shape)}; expected one per image, "
                                    f"{[len(x), *x.shape[-2:]]}.")
            elif not np.isfinite(y).all():
                raise DataError(f"{self.source}: {part} target at sample {np.flatnonzero(~np.isfinite(y))[0]} is not finite.")
        return self


def series_lengths(x: np.ndarray, where: str) -> np.ndarray:
    """Series (N, T, F) → each one's length: its steps before the steps, NaN throughout, that pad a shorter
    series to the longest at its end. A NaN beside numbers, padding before a series' last step, or a series
    of no step is an error naming the series and the step."""
    nan = np.isnan(x) if np.issubdtype(x.dtype, np.floating) else np.zeros(x.shape, bool)
    pad = nan.all(-1)
    partial = np.argwhere(nan.any(-1) & ~pad)
    if len(partial):
        i, t = partial[0]
        raise DataError(f"{where} series {i}, step {t}: NaN beside numbers. A missing value inside a series is not "
                        "read; a shorter series is padded with steps that are NaN throughout, after its last step.")
    inner = np.argwhere(pad[:, :-1] & ~pad[:, 1:])
    if len(inner):
        i, t = inner[0]
        raise DataError(f"{where} series {i}: step {t} is NaN throughout but step {t + 1} is not; padding comes after "
                        "a series' last step.")
    lengths = (~pad).sum(1)
    if len(lengths) and lengths.min() == 0:
        raise DataError(f"{where} series {int(np.argmin(lengths))} has no step that is not NaN.")
    return lengths


def resize_images(x: np.ndarray, size: int, channels: int) -> np.ndarray:
    """(N, H, W) uint8 → (N, channels, size, size) uint8: bilinear resize, grey repeated into each channel
    (the course's CIFAR-10 networks take 3×32×32)."""
    import torch
    import torch.nn.functional as F

    t = torch.as_tensor(x[:, None], dtype=torch.float32)
    if t.shape[-1] != size or t.shape[-2] != size:
        t = F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False)
    return t.round().clamp(0, 255).to(torch.uint8).repeat(1, channels, 1, 1).numpy()


def _idx_data(folder, class_names, label: str, size: int = 28, channels: int = 1) -> RawData:
    d = sources.read_mnist_folder(folder)
    x, x_test = d["x_train"], d["x_test"]
    if (size, channels) != (x.shape[-1], 1):
        x, x_test = resize_images(x, size, channels), resize_images(x_test, size, channels)
        label += f", resized to {channels}×{size}×{size}"
    return RawData(x, d["y_train"], "image", "class", f"{label} ({folder})",
                   class_names=class_names, x_test=x_test, y_test=d["y_test"])


@DATASETS.register("fashion_mnist")
def fashion_mnist(*, path: str = "", size: int = 28, channels: Literal[1, 3] = 1) -> RawData:
    """Fashion-MNIST (Zalando): 60k/10k 28×28 grey images, 10 clothing classes; official test set. size=32, channels=3
    gives the 3×32×32 stand-in for CIFAR-10."""
    return _idx_data(sources.find_fashion_mnist(path or None), FASHION_CLASSES, "Fashion-MNIST", size, channels)


@DATASETS.register("mnist_folder")
def mnist_folder(*, path: str, class_names: list[str] = [], size: int = 28, channels: Literal[1, 3] = 1) -> RawData:
    """Any MNIST-format IDX folder (real MNIST, EMNIST digits, ...); official test set."""
    d = _idx_data(path, (), "MNIST-format", size, channels)
    n = int(max(d.y.max(), d.y_test.max())) + 1
    d.class_names = tuple(class_names) if class_names else tuple(str(i) for i in range(n))
    return d


@DATASETS.register("cifar10")
def cifar10(*, path: str) -> RawData:
    """CIFAR-10 from its "python version" folder (data_batch_1..5, test_batch): 50k/10k 3×32×32 colour images."""
    d = sources.read_cifar10(path)
    return RawData(d["x_train"], d["y_train"], "image", "class", f"CIFAR-10 ({path})", sources.CIFAR_CLASSES,
                   x_test=d["x_test"], y_test=d["y_test"])


@DATASETS.register("image_folder")
def image_folder(*, path: str, size: int = 0, channels: Literal[1, 3] = 3, skip_bad: bool = False,
                 group: str = "", subgroups: dict[str, str] = {}) -> RawData:
    """A folder with one sub-folder of images per class (or train/ and test/ folders laid out so).
    `group`: a regular expression on the file name whose first group (or match) names the image's
    group, e.g. "^(patient\\d+)_" for patient12_scan3.png: a group's images are never split apart.
    `subgroups`: name → such an expression, e.g. { scanner = "_(\\w+)\\.png$" }: the test metrics are
    also given per value."""
    from pathlib import Path

    root = Path(path)
    files_test = None
    if (root / "train").is_dir() and (root / "test").is_dir():
        x, y, classes, bad, files = sources.read_image_folder(root / "train", size, channels, skip_bad)
        xt, yt, test_classes, bad_t, files_test = sources.read_image_folder(root / "test", size, channels, skip_bad)
        if test_classes != classes:
            raise DataError(f"{path!r}: train/ has classes {classes} but test/ has {test_classes}.")
        extra = dict(x_test=xt, y_test=yt)
        bad += bad_t
    else:
        x, y, classes, bad, files = sources.read_image_folder(root, size, channels, skip_bad)
        extra = {}
    if group:  # (ids shared by both sets: a patient in both is counted)
        names = _names_in(files + (files_test or []), group, "data.group")
        ids = np.unique(names, return_inverse=True)[1].astype(np.int64)
        extra["groups"] = ids[:len(files)]
        if files_test is not None:
            extra["groups_test"] = ids[len(files):]
    if subgroups:
        found = lambda fs: {k: np.array(_names_in(fs, rx, f"data.subgroups.{k}"), str)  # noqa: E731
                            for k, rx in subgroups.items()}
        extra["subgroups"] = found(files)
        if files_test is not None:
            extra["subgroups_test"] = found(files_test)
    note = f", {bad} unreadable files skipped" if bad else ""
    return RawData(x, y, "image", "class", f"image folder {path}{note}", tuple(classes), **extra)


def _names_in(files, pattern: str, key: str) -> list[str]:
    """What `pattern` finds in each file name: its first group, or its whole match."""
    try:
        rx = re.compile(pattern)
    except re.error as err:
        raise DataError(f"{key} = {pattern!r} is not a regular expression: {err}.") from None
    names = []
    for f in files:
        m = rx.search(f.name)
        if m is None:
            raise DataError(f"{key} = {pattern!r} does not match the file name {f.name!r} ({str(f)!r}); "
                            "every image needs a value.")
        names.append(m.group(1) if rx.groups else m.group(0))
    return names


# --- sequences ---

DIGIT_TOKENS = ("<pad>", "<bos>", "<eos>", *"0123456789")


@DATASETS.register("digit_sequences")
def digit_sequences(*, task: Literal["reverse", "sort"] = "reverse", n: int = 20000, min_len: int = 4,
                    max_len: int = 10, seed: int = 0) -> RawData:
    """Generated digit strings and their reversal (or sorting): a sequence-to-sequence task."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, max_len), np.int64)
    y = np.zeros((n, max_len + 1), np.int64)
    for i in range(n):
        digits = rng.integers(0, 10, rng.integers(min_len, max_len + 1))
        out = digits[::-1] if task == "reverse" else np.sort(digits)
        x[i, : len(digits)] = digits + 3
        y[i, : len(out)] = out + 3
        y[i, len(out)] = 2  # <eos>
    return RawData(x, y, "sequence", "sequence", f"generated digit strings ({task})", DIGIT_TOKENS)


# --- text ---

@DATASETS.register("text_table")
def text_table(*, path: str, text: str = "text", label: str = "label") -> RawData:
    """Texts and labels from a CSV/TSV/JSONL file (columns named by `text` and `label`)."""
    texts, labels = sources.read_text_table(path, text, label)
    classes = sorted(set(labels), key=lambda v: (all_numbers([v]) and float(v), v))
    index = {c: i for i, c in enumerate(classes)}
    return RawData(np.array(texts, dtype=object), np.array([index[v] for v in labels], np.int64), "text", "class",
                   f"texts {path}", tuple(classes))


@DATASETS.register("imdb")
def imdb(*, path: str) -> RawData:
    """IMDB movie reviews in their published layout (aclImdb/train|test/pos|neg/*.txt); official test set."""
    d = sources.read_imdb(path)
    return RawData(d["x_train"], d["y_train"], "text", "class", f"IMDB ({path})", ("negative", "positive"),
                   x_test=d["x_test"], y_test=d["y_test"])


_GOOD = ["great", "wonderful", "brilliant", "moving", "funny", "beautiful", "excellent", "gripping", "charming"]
_BAD = ["terrible", "boring", "awful", "dull", "predictable", "weak", "clumsy", "tedious", "bad"]
_THINGS = ["film", "movie", "story", "acting", "plot", "cast", "script", "ending", "soundtrack", "direction"]
_OPENERS = ["honestly", "overall", "i think", "to be fair", "in the end", "frankly", "my friends said", ""]


_GOOD_UNSEEN = ["superb", "delightful", "outstanding", "touching", "hilarious", "stunning", "marvellous", "captivating",
                "lovely"]
_BAD_UNSEEN = ["dreadful", "tiresome", "horrible", "bland", "formulaic", "feeble", "awkward", "monotonous", "poor"]


def _reviews(rng, n: int, good: list[str], bad: list[str]) -> tuple[list[str], list[int]]:
    texts, labels = [], []
    for _ in range(n):
        score, parts = 0, []
        for k in range(rng.integers(1, 4)):
            positive = rng.random() < 0.5
            negated = rng.random() < 0.3
            adj = rng.choice(good if positive else bad)
            verb = rng.choice(["was not", "is not", "was never"]) if negated else rng.choice(["was", "is", "felt"])
            weight = 2 if k == 0 else 1  # the first clause sets the tone
            score += weight * (1 if positive != negated else -1)
            parts.append(f"the {rng.choice(_THINGS)} {verb} {adj}")
        if score == 0:
            continue
        texts.append((f"{rng.choice(_OPENERS)} " + " , but ".join(parts) + rng.choice([" .", " !", " ..."])).strip())
        labels.append(int(score > 0))
    return texts, labels


@DATASETS.register("sentiment_demo")
def sentiment_demo(*, n: int = 3000, seed: int = 0, unseen_words: bool = False) -> RawData:
    """Generated movie reviews with real words, negations ("not boring", "never funny") and a second clause that
    can contrast ("but the ending was dull"): the label is the review's overall sentiment. unseen_words = true
    makes the test set (a fifth as many reviews) use only adjectives that training never saw ("superb",
    "tiresome", ...): a model must know English, not the training vocabulary."""
    rng = np.random.default_rng(seed)
    texts, labels = _reviews(rng, n, _GOOD, _BAD)
    as_arrays = lambda t, y: (np.array(t, dtype=object), np.array(y, np.int64))  # noqa: E731
    x, y = as_arrays(texts, labels)
    if not unseen_words:
        return RawData(x, y, "text", "class", "generated movie reviews (sentiment_demo)", ("negative", "positive"))
    x_test, y_test = as_arrays(*_reviews(rng, n // 5, _GOOD_UNSEEN, _BAD_UNSEEN))
    return RawData(x, y, "text", "class", "generated movie reviews, test adjectives unseen in training (sentiment_demo)",
                   ("negative", "positive"), x_test=x_test, y_test=y_test)


def _sklearn(name: str, kind: str, target: str) -> RawData:
    b = sources.load_sklearn(name)
    x = b.data.astype(np.float32)
    classes = tuple(str(c) for c in getattr(b, "target_names", ())) if target == "class" else ()
    if name == "digits":
        classes = tuple(str(i) for i in range(10))
    y = b.target.astype(np.int64 if target == "class" else np.float32)
    features = tuple(str(f) for f in b.feature_names) if getattr(b, "feature_names", None) is not None else ()
    return RawData(x, y, kind, target, f"scikit-learn {name}", classes, features)


def _sklearn_builder(name: str, target: str, summary: str):
    def builder() -> RawData:
        return _sklearn(name, "table", target)
    builder.__doc__ = summary
    return builder


for _name, _target, _summary in (
    ("digits", "class", "scikit-learn digits: 1,797 8×8 images of handwritten digits (64 features), 10 classes"),
    ("iris", "class", "scikit-learn iris: 150 flowers, 4 features, 3 classes"),
    ("wine", "class", "scikit-learn wine: 178 wines, 13 features, 3 classes"),
    ("breast_cancer", "class", "scikit-learn breast cancer (Wisconsin): 569 tumours, 30 features, benign/malignant"),
    ("diabetes", "real", "scikit-learn diabetes: 442 patients, 10 features, disease progression after one year"),
):
    DATASETS.register(_name)(_sklearn_builder(_name, _target, _summary))


@DATASETS.register("table")
def table(*, path: str, label: str, features: list[str] = [], categorical: list[str] = [], target: str = "auto",
          missing: Literal["error", "median", "previous"] = "error", group: str = "", subgroups: list[str] = [],
          time: str = "", series: str = "", order: str = "", window: Size = 0, stride: Size = 0,
          window_label: Literal["same", "last", "majority", "mean"] = "same") -> RawData:
    """Any CSV/TSV/Parquet table: feature columns and a label column (class or real). A column of
    texts is a category, one-hot encoded (so is a column named in `categorical`, e.g. site codes 1-4).
    A missing number is an error, or with missing = "median" the training split's median. `group`
    names a column (a patient, a subject, a site) whose rows are split together, never across splits.
    `subgroups` names columns (sex, site, age; features or not) by whose values the test metrics are
    also given, with a test of whether they differ. `time` names a column of dates (ISO 8601: 2024-03-01,
    2024-03-01T08:30) or numbers (a year, a day count): the split follows it, the test set last, so
    the network is tested on what came after what it learned from.

    Series in long format, one row a step: `series` names the column saying which series (a recording,
    a session) each row belongs to, `order` the one ordering its steps (numbers or ISO dates; else the
    file's order). Each series is a sample, of one label, or with `window` each series is cut into
    windows of that many steps, one every `stride` (default `window`): windows of one series are then
    split together, as a group (unless `group` names another, say the subject), and a window whose rows
    are not all of one label is left out; or with `window_label` each window takes its last row's label
    ("last"), its most common one ("majority") or, of values, their mean ("mean"). missing = "previous" fills
    a gap with the series' last value before it."""
    if time and (time == group or time in features):
        raise DataError(f"data.time = {time!r} orders the rows; it cannot also be the group or a feature.")
    if not series and (order or window or stride or missing == "previous"):
        raise DataError("data.order, data.window, data.stride and data.missing = \"previous\" read series written "
                        "one row a step; name the column that says which series a row belongs to: data.series.")
    if series and missing == "median":
        raise DataError("data.missing = \"median\" fills a table's cells; a series' gaps take its last value before "
                        "them: data.missing = \"previous\".")
    if (stride or window_label != "same") and not window:
        what = f"data.stride = {stride} moves" if stride else f"data.window_label = {window_label!r} labels"
        raise DataError(f"{what} a window; set data.window, the steps each window holds.")
    _window_label_fits(window_label, target)
    steps = [c for c in (series, order) if c]
    taken = [c for c in steps if c in (label, time) or c == group != series] + ([order] if order and order == series else [])
    if taken:
        raise DataError(f"data.series and data.order name the columns of series ids and steps; {taken[0]!r} cannot "
                        "also be the label, the time or both, nor data.order the group.")
    features = [c for c in features if c not in steps]  # (a recipe trainlab wrote before they were set lists them)
    extra = list(dict.fromkeys([*subgroups, *([time] if time else []), *steps]))
    t = sources.read_table(path, label, features or None, categorical, missing != "error", group, extra,
                           exclude=[c for c in (time, *steps) if c], fill="previous" if series else "median")
    if target not in ("auto", "class", "real"):
        raise DataError(f"data.target must be 'auto', 'class' or 'real'; received {target!r}.")
    if series:
        return _long(t, path, label, "real" if window_label == "mean" else target, series, order, window, stride,
                     missing == "previous", group, subgroups, time, window_label)
    groups = np.unique(t.groups, return_inverse=True)[1].astype(np.int64) if t.groups is not None else None
    about = dict(feature_names=t.feature_names, columns=t.columns, categories=t.categories, missing=missing == "median",
                 groups=groups, subgroups={c: np.array(t.extra[c], dtype=str) for c in subgroups} or None,
                 **(dict(zip(("time", "time_labels"), moments(t.extra[time], f"{path!r} column {time!r}")))
                    if time else {}))
    y, target, classes = _labels_of(t.labels, target, f"{path!r}", label)
    return RawData(t.x, y, "table", target, f"table {path}", classes, **about)


def _labels_of(labels: list[str], target: str, where: str, column: str) -> tuple[np.ndarray, str, tuple]:
    """A label column's cells → (labels, "class" or "real", class names), as the table dataset reads them."""
    numeric = all_numbers(labels)
    if target == "real" or (target == "auto" and are_values(labels)):
        if not numeric:
            raise DataError(f"{where}: data.target is 'real' but label column {column!r} holds non-numbers.")
        return np.array(labels, np.float32), "real", ()
    classes = sorted(set(labels), key=lambda v: (float(v), v) if numeric else (0, v))
    index = {c: i for i, c in enumerate(classes)}
    return np.array([index[v] for v in labels], np.int64), "class", tuple(str(c) for c in classes)


def _window_label_fits(how: str, target: str) -> None:
    """A clear error when data.window_label cannot give the target asked for: a mean of classes, a majority of values."""
    if how == "mean" and target == "class" or how == "majority" and target == "real":
        raise DataError(f"data.window_label = {how!r} takes " + ("a mean of values" if how == "mean" else
                        "the most common class") + f", and data.target is {target!r}.")


WINDOW_LABEL_WORDS = {"last": "its last row's label", "majority": "its most common label",
                      "mean": "the mean of its rows' labels"}


def _long(t, path: str, label: str, target: str, series: str, order: str, window: int, stride: int, fill: bool,
          group: str, subgroups: list[str], time: str, window_label: str = "same") -> RawData:
    """A long table's rows (one a step) as series (data/long.py), each sample's label (or each window's, as
    `window_label` says), group, subgroups and time the one value of its rows."""
    from . import long

    where = f"{path!r}"
    same = window_label == "same"
    g = long.group(t.x, t.extra[series], where, order=(order, t.extra[order]) if order else None, window=window,
                   stride=stride, fill=fill, labels=t.labels if window and same else None,
                   feature_names=t.feature_names)
    hint = "; set data.window to cut each series into windows of one label" if not window else ""
    cells = long.per_sample(t.labels, g, "the label", where, hint=hint) if same else \
        long.window_labels(t.labels, g, window_label, where)
    labels, target, classes = _labels_of(cells, target, where, label)
    ids = long.per_sample(t.groups, g, f"group {group!r}", where) if group else g.series if window else None
    groups = None if ids is None else np.unique(ids, return_inverse=True)[1].astype(np.int64)
    by = {c: np.array(long.per_sample(t.extra[c], g, f"subgroup {c!r}", where), dtype=str) for c in subgroups}
    when = dict(zip(("time", "time_labels"), moments(long.per_sample(t.extra[time], g, f"time {time!r}", where),
                                                     f"{where} column {time!r}"))) if time else {}
    said = f"table {path}: {g.count:,} series by {series!r}" + (f", steps in order of {order!r}" if order else "")
    if window:
        said += f", cut into {len(g.x):,} windows of {window} steps every {stride or window}" + (
            f", each labelled by {WINDOW_LABEL_WORDS[window_label]}" if not same else "") + "".join(
            f"; {n:,} {what} left out" for n, what in ((g.too_short, "series shorter than a window"),
                                                       (g.mixed, "windows spanning two labels")) if n)
    return RawData(g.x, labels, "series", target, said, classes, t.feature_names, columns=t.columns,
                   categories=t.categories, groups=groups, subgroups=by or None, **when)


@DATASETS.register("arrays")
def arrays(*, path: str, x: str = "x", y: str = "y", x_test: str = "x_test", y_test: str = "y_test", groups: str = "",
           kind: Literal["auto", "image", "table", "series"] = "auto", target: Literal["auto", "class", "real"] = "auto",
           class_names: list[str] = [], feature_names: list[str] = [], subgroups: list[str] = [], window: Size = 0,
           stride: Size = 0, window_label: Literal["same", "last", "majority", "mean"] = "same") -> RawData:
    """NumPy arrays in a .npz file or a folder of .npy files: inputs x of shape (N, F) (a table), (N, H, W)
    or (N, C, H, W) (images; (N, H, W, C) is transposed), or with kind = "series" (N, T, F) or (N, T):
    T steps of F values each (sensor readings, a signal; `feature_names` names the F; a shorter series
    padded to the longest with steps that are NaN throughout, after its last), and labels y:
    integers or strings are classes,
    floats values (or classes, when they are at most 20 whole numbers); (N, K) floats, K values. x_test and
    y_test, when the file holds them, are its official test set; `groups` names an array of group ids
    (and <name>_test, when the file holds it, the official test set's, the same ids for the same group),
    `subgroups` arrays (N,) by whose values the test metrics are also given (with an official test set,
    also <name>_test). Series with `window`: each cut into windows of that many steps, one every `stride`
    (default `window`), each of its series' label, the windows of one series split together (as a group,
    or by `groups`); a series shorter than a window gives none. Or y of shape (N, T), a label per step
    (what each step is doing): a window whose steps are not all of one label is left out, or with
    `window_label` each window takes its last step's label ("last"), its most common one ("majority") or,
    of values, their mean ("mean"), as a table's windows do."""
    names = [k for k in (x_test, y_test) if k]
    a = sources.read_arrays(path, [x, y, *([groups] if groups else []), *subgroups],
                            [*names, *(f"{k}_test" for k in subgroups), *([f"{groups}_test"] if groups else [])])
    where = f"arrays {path}"
    test = (a.get(x_test), a.get(y_test)) if x_test in a and y_test in a else (None, None)
    if (x_test in a) != (y_test in a):
        raise DataError(f"{where}: holds {x_test if x_test in a else y_test!r} but not "
                        f"{y_test if x_test in a else x_test!r}; an official test set needs both.")
    inputs, note = _array_inputs([a[x], test[0]], kind, where)
    per_step = kind == "series" and inputs[0].shape[1] > 1 and all(  # y (N, T): a label per step
        v is None or v.shape == u.shape[:2] for u, v in zip(inputs, (a[y], test[1])))
    steps = per_step and bool(window)
    if steps:
        labels, target, classes = _step_labels([a[y], test[1]], inputs, target, window_label, list(class_names), where)
    else:
        if per_step and target == "auto" and not np.issubdtype(a[y].dtype, np.floating):
            raise DataError(f"{where}: y holds a label per step (shape {list(a[y].shape)}, as x's series); set "
                            "data.window (and data.stride) to cut the series into windows, each of one label or "
                            "labelled by its steps (data.window_label), or data.target = \"real\" to regress every "
                            "step's value.")
        if window_label != "same":
            raise DataError(f"{where}: data.window_label labels each window by its steps' labels; y must then hold "
                            f"one label per step, shape [N, T] = {list(inputs[0].shape[:2])} (with data.kind = "
                            f"\"series\" and data.window); received {list(a[y].shape)}.")
        labels, target, classes = _array_labels([a[y], test[1]], target, list(class_names), where)
    kind = "series" if kind == "series" else "table" if inputs[0].ndim == 2 else "image"
    for k in subgroups:
        if inputs[1] is not None and f"{k}_test" not in a:
            raise DataError(f"{where}: subgroup {k!r} needs {k + '_test'!r} too, its value for each official test sample.")
    ids, ids_test = None, None
    if groups:  # one numbering for both sets
        test_ids = a.get(f"{groups}_test") if inputs[1] is not None else None
        every = np.unique(np.concatenate([a[groups].astype(str), *([] if test_ids is None else [test_ids.astype(str)])]),
                          return_inverse=True)[1].astype(np.int64)
        ids, ids_test = every[:len(a[groups])], None if test_ids is None else every[len(a[groups]):]
        if ids_test is not None and len(ids_test) != len(inputs[1]):
            raise DataError(f"{where}: {len(ids_test)} values in {groups + '_test'!r} for {len(inputs[1])} test samples.")
    by = {k: a[k].astype(str) for k in subgroups}
    by_test = {k: a[f"{k}_test"].astype(str) for k in subgroups} if inputs[1] is not None else {}
    if window or stride:
        if kind != "series" or not window:
            raise DataError(f"{where}: data.window (and data.stride) cut series into windows; set data.kind = "
                            "\"series\" and data.window, the steps each window holds.")
        inputs, labels, owners, note = _windows(inputs, labels, window, stride, where, window_label if steps else "")
        # the windows of one series (or group) split together; an official test set's series numbered after
        ids_test = ids_test[owners[1]] if ids_test is not None else \
            owners[1] + len(a[x]) if ids is None and owners[1] is not None else None
        ids = owners[0] if ids is None else ids[owners[0]]
        by = {k: v[owners[0]] for k, v in by.items()}
        by_test = {k: v[owners[1]] for k, v in by_test.items()}
    return RawData(inputs[0], labels[0], kind, target, where + note, classes, tuple(feature_names),
                   x_test=inputs[1], y_test=labels[1], groups=ids, groups_test=ids_test, subgroups=by or None,
                   subgroups_test=by_test or None)


def _step_labels(ys: list, inputs: list, target: str, how: str, names: list[str], where: str):
    """Labels (N, T), one per step (and an official test set's), as class indices or values (`_array_labels`
    on the steps each series has: padding after its last step holds no label)."""
    _window_label_fits(how, target)
    kept = [None if x is None else np.arange(x.shape[1]) < series_lengths(x, where)[:, None] for x in inputs]
    mapped, target, classes = _array_labels([None if y is None else y[m] for y, m in zip(ys, kept)],
                                            "real" if how == "mean" else target, names, where)
    out = [None if m is None else np.zeros(m.shape, v.dtype) for m, v in zip(kept, mapped)]
    for full, m, v in zip(out, kept, mapped):
        if m is not None:
            full[m] = v
    return out, target, classes


def _windows(inputs: list, labels: list, window: int, stride: int, where: str, how: str = ""):
    """Series and their labels (and an official test set's) → windows, each with its series' label (or with
    `how`, labels per step: long.window_rule); and each window's series, and the words for the data's source."""
    from . import long

    out, said, left = [], [], ""
    for part, x, y in (("", inputs[0], labels[0]), ("test ", inputs[1], labels[1])):
        if x is None:
            out.append((None, None, None))
            continue
        lengths = series_lengths(x, f"{where}: {(part or 'training ').strip()}")
        w, owner, first = long.cut(x, lengths, window, stride)
        if not len(w):
            raise DataError(f"{where}: no {part}series has {window} steps or more (the longest: {lengths.max()}); "
                            "set a smaller data.window.")
        short = int((lengths < window).sum())
        if how:  # a label per step
            keep, label = long.window_rule(y[owner[:, None], first[:, None] + np.arange(window)], how)
            label = label.astype(y.dtype)  # (a mean of float32 values stays float32)
            if not keep.any():
                raise DataError(f"{where}: every {part}window of {window} steps spans two labels; set a smaller "
                                "data.window, or data.window_label = \"last\" or \"majority\" to label a window by its steps.")
            left += f"; {int((~keep).sum()):,} {part}windows spanning two labels left out" if not keep.all() else ""
            w, owner = w[keep], owner[keep]
        else:
            label = y[owner]
        said.append(f"{len(x):,} {part}series cut into {len(w):,} windows" + (f" ({short:,} shorter than a window left "
                                                                              "out)" if short else ""))
        out.append((w, label, owner))
    windows, ys, owners = map(list, zip(*out))
    by = f", each labelled by {WINDOW_LABEL_WORDS[how].replace('row', 'step')}" if how and how != "same" else ""
    return windows, ys, owners, f", {' and '.join(said)} of {window} steps every {stride or window}{by}{left}"


def _array_inputs(xs: list, kind: str, where: str) -> tuple[list, str]:
    """Inputs as trainlab trains on them: (N, F) float32 tables, (N, C, H, W) images (uint8 kept), (N, T, F)
    float32 series."""
    x = xs[0]
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise DataError(f"{where}: the inputs are {x.dtype}; they must be numbers.")
    if x.ndim == 0 or any(a is not None and not len(a) for a in xs):
        raise DataError(f"{where}: no samples (inputs of shape {list(x.shape)}).")
    if kind == "auto":
        if x.ndim > 4:
            raise DataError(f"{where}: inputs of shape {list(x.shape)}; set data.kind = \"table\" to flatten each sample.")
        kind = "table" if x.ndim <= 2 else "image"
    note, out = "", []
    for a in xs:
        if a is None:
            out.append(None)
            continue
        if kind == "table":
            a = a.reshape(len(a), -1)
        elif kind == "series":
            if a.ndim not in (2, 3) or a.shape[1:] != xs[0].shape[1:]:
                raise DataError(f"{where}: series must be (N, T, F) (T steps of F values) or (N, T); received "
                                f"{list(a.shape)}" + (f" beside {list(xs[0].shape)}" if a is not xs[0] else "") + ".")
            a = a[:, :, None] if a.ndim == 2 else a
        elif a.ndim == 4 and a.shape[-1] in (1, 3, 4) and a.shape[1] not in (1, 3, 4):
            a, note = a.transpose(0, 3, 1, 2), ", channels moved first"  # (N, H, W, C) → (N, C, H, W)
        elif a.ndim not in (3, 4):
            raise DataError(f"{where}: images must be (N, H, W) or (N, C, H, W); received {list(a.shape)}.")
        out.append(np.ascontiguousarray(a) if a.dtype == np.uint8 and kind == "image" else a.astype(np.float32))
    return out, note


def _array_labels(ys: list, target: str, names: list[str], where: str) -> tuple[list, str, tuple]:
    """Labels as class indices (with the class names) or float32 values."""
    y = ys[0]
    if y.ndim == 2 and y.shape[1] == 1:
        ys = [v.reshape(len(v)) if v is not None else None for v in ys]
        y = ys[0]
    both = np.concatenate([v.reshape(len(v), -1) for v in ys if v is not None])
    whole = np.issubdtype(y.dtype, np.floating) and np.isfinite(both).all() and (both == np.round(both)).all()
    if target == "auto":
        discrete = not np.issubdtype(y.dtype, np.floating) or (whole and len(np.unique(both)) <= MAX_NUMBERED_CLASSES)
        target = "class" if discrete and y.ndim == 1 else "real"
    if target == "real":
        if not np.issubdtype(y.dtype, np.number):
            raise DataError(f"{where}: data.target is 'real' but the labels are {y.dtype}.")
        return [v.astype(np.float32) if v is not None else None for v in ys], "real", ()
    if y.ndim != 1:
        raise DataError(f"{where}: class labels must be one per sample; received shape {list(y.shape)}.")
    both = both.reshape(-1)
    if names and y.dtype.kind in "US":  # the names given, in their order
        unknown = sorted(set(both.tolist()) - set(names))
        if unknown:
            raise DataError(f"{where}: label {unknown[0]!r} is not in data.class_names ({', '.join(names)}).")
        return [np.array([names.index(c) for c in v.tolist()], np.int64) if v is not None else None for v in ys], \
            "class", tuple(names)
    if names:  # numbers: indices into the names given
        if both.min() < 0 or both.max() >= len(names) or not (both == np.round(both)).all():
            bad = next(v for v in both.tolist() if not (0 <= v < len(names) and v == round(v)))
            raise DataError(f"{where}: a label is {bad}; data.class_names names {len(names)} classes "
                            f"(labels 0..{len(names) - 1}).")
        return [v.astype(np.int64) if v is not None else None for v in ys], "class", tuple(names)
    values = np.unique(both)  # strings, booleans, whole numbers: the classes in sorted order
    shown = tuple(str(v).removesuffix(".0") for v in values.tolist())
    return [np.searchsorted(values, v).astype(np.int64) if v is not None else None for v in ys], "class", shown


def moments(cells: list[str], where: str) -> tuple[np.ndarray, np.ndarray]:
    """Cells of a time column → (sortable float64 times, the cells as text): numbers as they are, or ISO
    8601 dates and times (2024-03-01, 2024-03-01T08:30:00) in seconds. Anything else is an error, since
    a date like 03/01/2024 has no order trainlab can be sure of."""
    text = np.array([c.strip() for c in cells], dtype=str)
    missing = np.flatnonzero(np.isin(np.char.lower(text), sources.MISSING))
    if len(missing):
        raise DataError(f"{where}: row {int(missing[0]) + 2} has no time; every row needs one.")
    if all_numbers(text):
        return text.astype(np.float64), text
    bad = next((c for c in text if not is_iso_date(c)), None)
    if bad is not None:
        raise DataError(f"{where}: {str(bad)!r} is neither a number nor an ISO 8601 date (2024-03-01, "
                        "2024-03-01T08:30); write the times in one of those forms.")
    return np.array(text, dtype="datetime64[s]").astype(np.int64).astype(np.float64), text


# a date, or a date and a time: 2024-03-01, 2024-03-01T08:30, 2024-03-01 08:30:15.5 (NumPy alone also takes
# "", "NaT", "today" and "now", which are no times of a sample)
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?")


def is_iso_date(cell: str) -> bool:
    if not ISO_DATE.fullmatch(cell.strip()):
        return False
    try:
        np.datetime64(cell.strip(), "s")
        return True
    except ValueError:  # 2024-02-30
        return False


def all_numbers(values) -> bool:
    try:
        [float(v) for v in values]
        return True
    except (TypeError, ValueError):
        return False


MAX_NUMBERED_CLASSES = 20  # whole numbers up to this many distinct values are class codes; more are values


def are_values(labels) -> bool:
    """Whether a label column of texts holds values to regress rather than classes: numbers, and more than
    MAX_NUMBERED_CLASSES distinct ones or any with a fraction (2.5 is a measurement, not a class code), as
    for arrays."""
    if not all_numbers(labels):
        return False
    numbers = {float(v) for v in labels}
    return len(numbers) > MAX_NUMBERED_CLASSES or any(not math.isfinite(v) or v != round(v) for v in numbers)


# --- generated 2-D sets: the perceptron and decision-boundary labs ---

def _points(x, y, name, classes) -> RawData:
    return RawData(x.astype(np.float32), y.astype(np.int64), "points", "class", name, classes, ("x1", "x2"))


@DATASETS.register("triangles_squares")
def triangles_squares(*, n: int = 400, margin: float = 0.1, seed: int = 0) -> RawData:
    """Linearly separable 2-D points: squares where 1 + 3·x1 − 2·x2 > 0, triangles elsewhere (the course's perceptron)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, size=(4 * n, 2))
    score = (1 + 3 * x[:, 0] - 2 * x[:, 1]) / np.sqrt(13)  # signed distance to the boundary
    keep = np.abs(score) > margin
    x, score = x[keep][:n], score[keep][:n]
    return _points(x, score > 0, "generated triangles vs squares", ("triangle", "square"))


@DATASETS.register("moons")
def moons(*, n: int = 1000, noise: float = 0.2, seed: int = 0) -> RawData:
    """Two interleaving half circles (scikit-learn make_moons): needs a hidden layer."""
    from sklearn.datasets import make_moons

    x, y = make_moons(n, noise=noise, random_state=seed)
    return _points(x, y, "generated moons", ("upper", "lower"))


@DATASETS.register("circles")
def circles(*, n: int = 1000, noise: float = 0.1, factor: float = 0.5, seed: int = 0) -> RawData:
    """A circle inside a ring (scikit-learn make_circles)."""
    from sklearn.datasets import make_circles

    x, y = make_circles(n, noise=noise, factor=factor, random_state=seed)
    return _points(x, y, "generated circles", ("outer", "inner"))


@DATASETS.register("spirals")
def spirals(*, n: int = 1000, classes: int = 2, turns: float = 1.5, noise: float = 0.05, seed: int = 0) -> RawData:
    """Interleaved spirals, one arm per class."""
    rng = np.random.default_rng(seed)
    per = n // classes
    t = rng.uniform(0.05, 1, size=(classes, per))
    angle = 2 * np.pi * turns * t + 2 * np.pi * np.arange(classes)[:, None] / classes
    x = np.stack([t * np.cos(angle), t * np.sin(angle)], -1).reshape(-1, 2)
    x += rng.normal(0, noise, x.shape)
    y = np.repeat(np.arange(classes), per)
    return _points(x, y, "generated spirals", tuple(f"arm {i}" for i in range(classes)))


def mixture_log_density(truth: dict, x: np.ndarray) -> np.ndarray:
    """log Σ_k w_k N(x; μ_k, Σ_k) for (N, D) points; `truth` as the gaussian_mixture dataset describes it."""
    from scipy.special import logsumexp
    from scipy.stats import multivariate_normal

    parts = [math.log(w) + multivariate_normal(m, c).logpdf(x).reshape(len(x))
             for w, m, c in zip(truth["weights"], truth["means"], truth["covariances"])]
    return logsumexp(np.stack(parts), axis=0)



@DATASETS.register("gaussian_mixture")
def gaussian_mixture(*, n: int = 20000, dim: Literal[1, 2] = 2, seed: int = 0) -> RawData:
    """A Gaussian mixture with known density (5 rotated components in 2-D, 3 in 1-D); its true entropy is
    estimated from 400,000 extra samples, so a density model's test NLL can be set beside it."""
    rng = np.random.default_rng(seed)
    if dim == 2:
        weights = np.array([0.3, 0.25, 0.2, 0.15, 0.1])
        angles = 2 * np.pi * np.arange(5) / 5
        means = 2.5 * np.stack([np.cos(angles), np.sin(angles)], 1)
        covs = []
        for a in angles:  # elongated along the circle: std 0.6 tangentially, 0.2 radially
            r = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
            covs.append(r @ np.diag([0.2 ** 2, 0.6 ** 2]) @ r.T)
    else:
        weights, means = np.array([0.5, 0.3, 0.2]), np.array([[-2.0], [0.0], [2.5]])
        covs = [np.array([[s ** 2]]) for s in (0.5, 0.3, 0.8)]
    truth = {"kind": "gaussian_mixture", "weights": weights.tolist(), "means": means.tolist(),
             "covariances": [c.tolist() for c in covs]}

    def draw(m, r):
        k = r.choice(len(weights), size=m, p=weights)
        noise = np.stack([r.multivariate_normal(np.zeros(dim), c, size=m) for c in covs], 1)  # (m, K, D)
        return means[k] + noise[np.arange(m), k], k

    x, y = draw(n, rng)
    truth["entropy"] = float(-mixture_log_density(truth, draw(400_000, np.random.default_rng(seed + 1))[0]).mean())
    names = ("x",) if dim == 1 else ("x1", "x2")
    return RawData(x.astype(np.float32), y.astype(np.int64), "points", "class",
                   f"generated {dim}-D Gaussian mixture", tuple(f"component {i}" for i in range(len(weights))), names,
                   truth=truth)


# --- segmentation: images with instance masks ---

SEGMENTATION_CLASSES = ("background", "nucleus")


def _masks(xs: list, ys: list, source: str) -> RawData:
    """Images of possibly different sizes → (N, 1, H, W) float32 and (N, H, W) int32 instance labels,
    padded to the largest size; padding is labelled −1 and ignored by losses and metrics."""
    h, w = max(x.shape[0] for x in xs), max(x.shape[1] for x in xs)
    x_out, y_out = np.zeros((len(xs), 1, h, w), np.float32), np.full((len(xs), h, w), -1, np.int32)
    for i, (x, y) in enumerate(zip(xs, ys)):
        x_out[i, 0, :x.shape[0], :x.shape[1]], y_out[i, :y.shape[0], :y.shape[1]] = x, y
    return RawData(x_out, y_out, "image", "mask", source, SEGMENTATION_CLASSES)


@DATASETS.register("synthetic_nuclei")
def synthetic_nuclei(*, n: int = 160, size: int = 128, nuclei: tuple[int, int] = (8, 22),
                     radius: tuple[float, float] = (4.5, 9.0), touching: float = 0.35, seed: int = 0) -> RawData:
    """Generated fluorescence nuclei: blurred textured ellipses of varied size and brightness, touching
    clusters, uneven background, Poisson and Gaussian noise; instance masks (seeded, no download)."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    xs, ys = [], []
    for _ in range(n):
        labels = np.zeros((size, size), np.int32)
        signal = np.zeros((size, size), np.float32)
        centres = []
        for k in range(1, rng.integers(nuclei[0], nuclei[1] + 1) + 1):
            a, b = rng.uniform(*radius), rng.uniform(*radius) * rng.uniform(0.6, 1.0)
            if centres and rng.random() < touching:  # a neighbour's edge: touching or slightly overlapping
                cy, cx, ca = centres[rng.integers(len(centres))]
                angle, dist = rng.uniform(0, 2 * np.pi), (ca + a) * rng.uniform(0.8, 1.0)
                cy, cx = cy + dist * np.sin(angle), cx + dist * np.cos(angle)
            else:
                cy, cx = rng.uniform(0, size, 2)
            iy, ix = int(np.clip(cy, 0, size - 1)), int(np.clip(cx, 0, size - 1))
            if labels[iy, ix]:
                continue  # a centre inside another nucleus would hide it
            t = rng.uniform(0, np.pi)
            u, v = (xx - cx) * np.cos(t) + (yy - cy) * np.sin(t), -(xx - cx) * np.sin(t) + (yy - cy) * np.cos(t)
            inside = (u / a) ** 2 + (v / b) ** 2 <= 1
            if inside.sum() < 12:
                continue
            labels[inside] = k
            texture = 1 + 0.25 * ndimage.gaussian_filter(rng.normal(size=(size, size)), 1.5) * 4
            signal[inside] = rng.uniform(0.4, 1.0) * texture[inside]
            centres.append((cy, cx, a))
        _, labels = np.unique(labels, return_inverse=True)  # ids 0..k without gaps
        labels = labels.reshape(size, size).astype(np.int32)
        gy, gx = rng.normal(0, 0.08, 2)
        background = 0.12 + gy * (yy / size - 0.5) + gx * (xx / size - 0.5)  # uneven illumination
        image = ndimage.gaussian_filter(signal, 1.2) + background
        photons = rng.poisson(np.clip(image, 0, None) * 60) / 60  # shot noise
        image = photons + rng.normal(0, 0.03, image.shape)           # read noise
        xs.append(image.astype(np.float32))
        ys.append(labels)
    from .sources import grey_percentiles

    return _masks([grey_percentiles(x) for x in xs], ys, f"generated nuclei ({n} images of {size}×{size}, seed {seed})")


@DATASETS.register("sbsst265")
def sbsst265(*, path: str) -> RawData:
    """S-BSST265 (Kromp et al., Sci. Data 2020): the unzipped dataset with rawimages/*.tif and
    groundtruth/*.tif (instance-labelled masks, same file names); images normalised per image by percentiles."""
    root = Path(path)
    xs, ys, names = sources.read_segmentation_pairs(root / "rawimages", root / "groundtruth", f"S-BSST265 at {path!r}")
    return _masks(xs, ys, f"S-BSST265 ({path}, {len(names)} images)")


@DATASETS.register("segmentation_folder")
def segmentation_folder(*, path: str, images: str = "images", masks: str = "masks") -> RawData:
    """A folder with images/ and masks/ (PNG or TIFF, matched by file name; masks hold instance ids or one
    colour per object); images normalised per image by percentiles."""
    root = Path(path)
    xs, ys, names = sources.read_segmentation_pairs(root / images, root / masks, f"segmentation folder {path!r}")
    return _masks(xs, ys, f"{path} ({len(names)} images)")
