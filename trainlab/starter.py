"""A recipe for data you already have, so `trainlab run patients.csv --label outcome` is the whole
procedure without writing one: the dataset entry that reads the file or folder, and a model,
optimiser and stopping rule that suit what it holds. The run stores the recipe it used (and
`trainlab recipe new` writes it out), so the next step is editing it."""
from __future__ import annotations

import re
from pathlib import Path

from .core.errors import DataError

LABELS = ("label", "labels", "target", "class", "y", "outcome")  # a label column taken by its name alone
TABLES = (".csv", ".tsv", ".tab", ".parquet", ".pq")
# columns whose values a study reports its results by (data.subgroups), taken by their names
SUBGROUPS = ("sex", "gender", "site", "center", "centre", "hospital", "clinic", "scanner", "device", "batch", "ethnicity",
             "race", "age_group", "age group")
TEXT_LENGTH = 20  # a column whose cells average this many characters or more, mostly distinct, holds texts
SERIES_VALUES = 16  # arrays (N, T, F) with at most this many values a step, and twice as many steps: series
# a table written one row a step: a column naming the series (these names, or an identifier's) and one its steps
SERIES_COLUMNS = ("series", "recording", "session", "trial", "sequence", "signal", "episode", "stay")
STEP_COLUMNS = ("t", "time", "timestamp", "step", "date", "datetime", "seconds", "second", "sec", "s", "ms", "frame",
                "tick", "minute", "hour", "day", "elapsed", "row", "position")
MIN_STEPS = 8  # rows a series has, at the median, for the table to be read as series (fewer: a group's rows)
MIN_SERIES = 10

TABLE = {"model": {"name": "mlp", "hidden": [64, 32], "dropout": 0.1}, "optim": {"name": "adam", "lr": 0.001,
                                                                          "weight_decay": 1e-4},
         "train": {"epochs": 200, "batch_size": 32, "early_stopping": {"patience": 20}}}
IMAGES = {"model": {"name": "convnet"}, "optim": {"name": "adam", "lr": 0.001},
          "train": {"epochs": 30, "batch_size": 64, "early_stopping": {"patience": 5}}}
SERIES = {"model": {"name": "rnn", "cell": "lstm", "hidden": 64}, "optim": {"name": "adam", "lr": 0.002},
          "train": {"epochs": 60, "batch_size": 64, "grad_clip": 1.0, "early_stopping": {"patience": 8}}}
TEXTS = {"model": {"name": "rnn", "cell": "gru"}, "optim": {"name": "adam", "lr": 0.002},
         "train": {"epochs": 20, "batch_size": 64, "grad_clip": 1.0, "early_stopping": {"patience": 4}}}
MASKS = {"model": {"name": "unet", "batch_norm": True}, "task": {"name": "segmentation"},
         "optim": {"name": "adam", "lr": 0.002}, "train": {"epochs": 40, "batch_size": 8, "early_stopping": {"patience": 10}},
         "eval": {"baselines": False}}


def starter_recipe(path: str | Path, label: str | None = None, overrides=()) -> tuple[dict, list[str]]:
    """(recipe as a dict, sentences saying what was chosen and why) for the data at `path`: a table
    (CSV/TSV/Parquet; `label` names its label column), texts and labels in a table or JSONL file,
    NumPy arrays (.npz, or a folder of .npy files), a folder of MNIST-format IDX files, a folder of
    class sub-folders of images, or a folder of images/ and masks/. `overrides` (--set, applied after)
    may say how to read a table: data.series makes it series, one row a step."""
    path = Path(path).expanduser().resolve()
    if not path.exists():
        raise DataError(f"{str(path)!r} does not exist. trainlab run takes a recipe (.toml) or your data: a table "
                        "(.csv, .tsv, .parquet), a .jsonl of texts, a .npz of arrays, or a folder of images.")
    from .core.config import apply_overrides

    data, recipe, notes = _data(path, label, apply_overrides({}, list(overrides)).get("data", {}))
    name, rest = data.pop("name"), data
    return {"name": path.stem or "data", "data": {"name": name, "path": str(path), **rest}, **recipe}, notes


def _data(path: Path, label: str | None, given: dict) -> tuple[dict, dict, list[str]]:
    from .data import sources

    suffix = path.suffix.lower()
    if path.is_file() and suffix == ".npz" or path.is_dir() and (path / "x.npy").is_file():
        return _arrays(sources.peek_arrays(path))
    if path.is_file() and suffix in (*TABLES, ".jsonl", ".ndjson"):
        return _table(path, label, given)
    if path.is_file():
        raise DataError(f"{str(path)!r}: trainlab reads tables (.csv, .tsv, .parquet), texts (.jsonl), arrays (.npz) "
                        "and folders of images; for anything else, write a dataset plugin (README: \"Your own model "
                        "and data\").")
    if any(path.glob("train-images-idx3-ubyte*")):
        return {"name": "mnist_folder"}, IMAGES, ["MNIST-format IDX files: their official test set is the test split"]
    if (path / "images").is_dir() and (path / "masks").is_dir():
        return {"name": "segmentation_folder", "normalize": "none"}, MASKS, \
            ["images/ and masks/: segmentation with a U-Net; the report counts nuclei-like objects"]
    root = path / "train" if (path / "train").is_dir() and (path / "test").is_dir() else path
    if not any(d.is_dir() for d in root.iterdir()):
        raise DataError(f"{str(path)!r} is a folder without class sub-folders, images/ and masks/, IDX files or "
                        "x.npy: put each class's images in a sub-folder named after the class.")
    sizes, modes = sources.peek_images(root)
    data, notes = {"name": "image_folder"}, [f"a folder of images, one sub-folder per class"
                                             + (" (train/ and test/: the test split is test/)" if root != path else "")]
    if modes and modes <= {"L", "1", "I;16", "I"}:
        data["channels"] = 1
    if len(sizes) > 1:  # one size for all: their median smallest side, at most 64 (a CPU's pace)
        sides = sorted(min(wh) for wh in sizes)
        data["size"] = size = max(16, min(64, sides[len(sides) // 2] // 4 * 4))
        notes.append(f"images of {len(sizes)} sizes (smallest sides {sides[0]} to {sides[-1]}), resized to "
                     f"{size}×{size} (data.size): the median smallest side, at most 64")
    return data, IMAGES, notes


def _arrays(shapes: dict) -> tuple[dict, dict, list[str]]:
    if "x" not in shapes or "y" not in shapes:
        raise DataError(f"The arrays hold {', '.join(shapes) or 'nothing'}; trainlab run takes inputs named x and labels "
                        "named y (x_test and y_test for an official test set), or a recipe naming them (data.x, data.y).")
    shape = shapes["x"][0]
    if len(shape) == 3 and shape[2] <= SERIES_VALUES and shape[1] >= 2 * shape[2]:  # (N, T, F): steps of a few values
        return {"name": "arrays", "kind": "series"}, SERIES, [
            f"arrays: x of shape {list(shape)}, series of {shape[1]} steps of {shape[2]} value{'s' * (shape[2] > 1)} "
            "each: an LSTM reads them step by step (data.kind = \"image\" reads them as images instead)"]
    if len(shape) in (3, 4):
        return {"name": "arrays"}, IMAGES, [f"arrays: x of shape {list(shape)}, images (data.kind = \"table\" "
                                            "flattens each sample instead)"]
    return {"name": "arrays"}, TABLE, [f"arrays: x of shape {list(shape)}, a table"]


def _table(path: Path, label: str | None, given: dict) -> tuple[dict, dict, list[str]]:
    from .data import sources
    from .data.datasets import all_numbers, are_values, is_iso_date

    if path.suffix.lower() in (".jsonl", ".ndjson"):
        return {"name": "text_table", "label": label or "label"}, TEXTS, ["texts (column 'text') and their labels"]
    header, rows = sources.peek_table(path)
    notes = []
    if label is None:
        label = next((c for c in header if c.lower() in LABELS), None)
        if label is None:
            raise DataError(f"Which column of {str(path)!r} is the label? Say it with --label; the columns are "
                            f"{', '.join(header)}.")
        notes.append(f"label column {label!r} (taken by its name; --label picks another)")
    if label not in header:
        raise DataError(f"{str(path)!r} has no column {label!r}; its columns are {', '.join(header)}.")
    whole = [row for row in rows if len(row) == len(header)]
    column = dict(zip(header, map(list, zip(*whole)))) if whole else {c: [] for c in header}  # each column's cells
    values = {v.strip() for v in set(column[label])}
    if len(values) < 2:  # before any note: nothing to learn
        raise DataError(f"{str(path)!r} column {label!r} holds " + (f"one value only ({next(iter(values))!r}) in "
                        f"{len(rows):,} rows: nothing to learn." if values else "no values: the table has no data rows."))
    if are_values(values):  # as the table dataset decides
        notes.append(f"{label!r} holds {len(values)} different numbers: regression (data.target = \"class\" to "
                     "take them as classes)")
    else:
        notes.append(f"{label!r} holds {len(values)} classes: classification")
    features = [c for c in header if c != label]
    texts = [c for c in features if _free_text(column[c])]
    if len(features) == 1 and texts:
        return {"name": "text_table", "text": texts[0], "label": label}, TEXTS, \
            [f"texts in column {texts[0]!r}: a word vocabulary and a GRU"]
    data = {"name": "table", "label": label}
    left_out = {c: "free text, not a measurement or a category" for c in texts}
    labels = [v.strip() for v in column[label]]
    recipe, count = TABLE, len(rows)
    if given.get("series") in column:  # --set data.series: series, one row a step, as the user says
        series, order = given["series"], given.get("order")
        left_out.update({c: None for c in (series, order) if c})
        notes.append(f"column {series!r} names {len(_rows_of(column[series]))} series (data.series), read by an LSTM")
        recipe = SERIES
    elif found := _long_format(column, labels, [c for c in features if c not in left_out]):
        series, order, count = found
        data.update(series=series, order=order)
        left_out.update({series: None, order: None})
        lengths = sorted(map(len, _rows_of(column[series]).values()))
        notes.append(f"column {series!r} names {count} series of {lengths[0]}"
                     + (f"-{lengths[-1]}" if lengths[-1] > lengths[0] else "") + f" rows, each of one {label!r}: "
                     f"each series is a sample, its rows its steps in the order of column {order!r} (data.series, "
                     "data.order), read by an LSTM")
        recipe = SERIES
    for c in features:
        if c in left_out:
            continue
        cells = {v.strip() for v in set(column[c])}  # each value once (a test on them: on every cell)
        distinct, numbers = len(cells), all_numbers(v for v in cells if v.lower() not in sources.MISSING)
        if distinct == 1:
            left_out[c] = f"the same cell ({next(iter(cells)) or 'empty'}) on every row: nothing to learn from"
        elif not numbers and all(map(is_iso_date, cells)):
            left_out[c] = (f"dates ({min(cells)} to {max(cells)}), not a measurement; --set data.time={c} splits in "
                           "time order instead, testing on the latest rows")
        elif distinct == len(column[c]) >= 20 and (id_name(c) or _row_numbers(cells) or not numbers):
            left_out[c] = "an identifier, a different value on every row (as a feature: noise, or a leak when " \
                          "the rows are in label order)"
        elif (id_name(c) or c.strip().lower() in SERIES_COLUMNS) and distinct < len(column[c]) \
                and "group" not in data:
            data["group"] = c
            left_out[c] = None
            members = _rows_of(column[c])
            steps = next((o for o in features if o != c and _steps(o, column[o], members)), None) \
                if recipe is TABLE else None
            notes.append(f"column {c!r} names {distinct} groups of rows (say, patients): a group is never split "
                         f"between training and test (data.group), so the test measures new {c}s, not "
                         "recognised ones" + (f"; if each is a recording, one row a step, --set data.series={c} "
                                              f"--set data.order={steps} --set data.window=N reads windows of N "
                                              "steps instead" if steps else ""))
        elif distinct > sources.MAX_CATEGORIES and not numbers:
            left_out[c] = f"{distinct} different texts, too many to one-hot as a category (data.categorical takes " \
                          "it anyway)"
    if left_out:
        data["features"] = [c for c in features if c not in left_out]
        if not data["features"]:
            raise DataError(f"{str(path)!r}: no column is left to learn {label!r} from ("
                            f"{', '.join(map(repr, left_out))} {'is' if len(left_out) == 1 else 'are'} left out). "
                            "Write a recipe naming the features (trainlab recipe new).")
    for why in dict.fromkeys(w for w in left_out.values() if w):
        named = [c for c, w in left_out.items() if w == why]
        notes.append(f"column{'s' if len(named) > 1 else ''} {', '.join(map(repr, named))} left out: {why}")
    by = [c for c in features if c.strip().lower() in SUBGROUPS and c not in left_out
          and 1 < len({v.strip() for v in set(column[c])}) <= 20]
    if by:
        data["subgroups"] = by
        notes.append(f"test metrics also by {', '.join(map(repr, by))} (data.subgroups), with a test of whether they "
                     "differ")
    if any(v.strip().lower() in sources.MISSING for c in data.get("features", features) for v in set(column[c])):
        if recipe is SERIES:
            data["missing"] = "previous"
            notes.append("missing cells take the last value before them in their series (data.missing)")
        else:
            data["missing"] = "median"
            notes.append("missing cells filled with the training split's median of their column (data.missing)")
    if count < 1000 and "series" not in given:
        what = "series" if "series" in data else "rows"
        notes.append(f"{count} {what}: one test split of a tenth is a small sample; --folds 5 tests every "
                     f"{what.removesuffix('s')} once")
    return data, recipe, notes


def _long_format(column: dict, labels: list[str], candidates: list[str]) -> tuple[str, str, int] | None:
    """(series column, step column, series count) when the table is series written one row a step: a column
    named as series or identifiers, with at least MIN_SERIES values of MIN_STEPS rows or more at the median,
    each of one label, and a column named as a time that orders the rows of each (a patient's few visits, or
    rows without a time, are a group's rows instead)."""
    for c in candidates:
        if not (id_name(c) or c.strip().lower() in SERIES_COLUMNS):
            continue
        members = _rows_of(column[c])
        sizes = sorted(map(len, members.values()))
        if len(members) < MIN_SERIES or sizes[len(sizes) // 2] < MIN_STEPS:
            continue
        if any(len({labels[r] for r in rows}) > 1 for rows in members.values()):
            continue  # a label per row: rows are the samples (a group), or windows (the note on groups says how)
        order = next((o for o in candidates if o != c and _steps(o, column[o], members)), None)
        if order:
            return c, order, len(members)
    return None


def _rows_of(cells: list[str]) -> dict[str, list[int]]:
    members: dict[str, list[int]] = {}
    for r, v in enumerate(cells):
        members.setdefault(v.strip(), []).append(r)
    return members


def _steps(column: str, cells: list[str], members: dict) -> bool:
    """Whether a column orders each series' steps: named as a time, numbers or ISO dates, none twice in a series."""
    from .data.datasets import all_numbers, is_iso_date

    low = column.strip().lower()
    if not (low in STEP_COLUMNS or re.search(r"[_ ](time|step|t|timestamp)$", low)):
        return False
    cells = [v.strip() for v in cells]
    if not (all_numbers(cells) or all(map(is_iso_date, cells))):
        return False
    return all(len({cells[r] for r in rows}) == len(rows) for rows in members.values())


def id_name(column: str) -> bool:
    """A column named as an identifier: id, index, key, uuid, patient_id, "sample id", PatientID,
    sampleId, or pandas' unnamed index ("Unnamed: 0"); not fluid or paid."""
    low = column.strip().lower()
    return low in ("", "id", "ids", "index", "idx", "key", "uuid") or bool(
        re.search(r"[_ .\-](id|idx|index|key|uuid)$", low) or re.search(r"[a-z](ID|Id)$", column.strip())
        or re.match(r"unnamed: ?\d+$", low))


def _row_numbers(cells: list[str]) -> bool:
    """Whole numbers that count the rows: every value from the smallest, once."""
    try:
        values = sorted(int(c) for c in cells)
    except ValueError:
        return False
    return values == list(range(values[0], values[0] + len(values)))


def _free_text(cells: list[str]) -> bool:
    if not cells or max(map(len, cells)) < TEXT_LENGTH:  # (quickly: no cell as long as a text)
        return False
    filled = [c for c in cells if c.strip()]
    return bool(filled) and sum(map(len, filled)) / len(filled) >= TEXT_LENGTH and len(set(filled)) > len(filled) / 2 \
        and sum(any(ch.isalpha() for ch in c) and " " in c.strip() for c in filled) * 2 > len(filled)
