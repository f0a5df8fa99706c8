"""The only file I/O for data: IDX (MNIST format), CSV/TSV/Parquet tables, NumPy arrays, scikit-learn's
bundled sets. Every reader validates what it reads and raises DataError naming the file."""
from __future__ import annotations

import csv
import gzip
import io
import logging
import operator
import os
import pickle
import re
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..core.errors import DataError

log = logging.getLogger("trainlab")
FASHION_MNIST_DIRS = ("/usr/share/datasets/fashion-mnist",)
IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path, ndim: int) -> np.ndarray:
    """Read an IDX file (raw or gzip). Checks magic number, dimension count and length."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except OSError as err:
        raise DataError(f"Cannot read IDX file {str(path)!r}: {err}.") from None
    except (EOFError, gzip.BadGzipFile) as err:
        raise DataError(f"IDX file {str(path)!r} is a corrupt or truncated gzip file ({err}).") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_TYPES:
        raise DataError(
            f"{str(path)!r} is not an IDX file: its magic number is {raw[:4].hex() or 'missing'}, "
            "expected 0000 08 followed by the number of dimensions (e.g. 00000803 for images)."
        )
    if raw[3] != ndim:
        raise DataError(f"IDX file {str(path)!r} has {raw[3]} dimensions; expected {ndim}.")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"IDX file {str(path)!r} is truncated inside its header.")
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    dtype = np.dtype(IDX_TYPES[raw[2]])
    expected = header + int(np.prod(dims)) * dtype.itemsize
    if len(raw) != expected:
        raise DataError(
            f"IDX file {str(path)!r} has {len(raw)} bytes; its header (dimensions {dims}) says "
            f"{expected}. The file is truncated or corrupt."
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def _find_idx(folder: Path, stem: str) -> Path:
    """MNIST files come as `train-images-idx3-ubyte[.gz]` or `train-images.idx3-ubyte`."""
    for name in (stem, stem.replace("-idx", ".idx")):
        for suffix in ("", ".gz"):
            if (folder / (name + suffix)).is_file():
                return folder / (name + suffix)
    raise DataError(
        f"Missing {stem}[.gz] in {str(folder)!r}. An MNIST-format folder holds train-images-idx3-ubyte, "
        "train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (optionally .gz)."
    )


def read_mnist_folder(folder: str | Path) -> dict[str, np.ndarray]:
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"MNIST-format folder {str(folder)!r} does not exist.")
    out = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        x = read_idx(_find_idx(folder, f"{prefix}-images-idx3-ubyte"), 3)
        y = read_idx(_find_idx(folder, f"{prefix}-labels-idx1-ubyte"), 1)
        if len(x) != len(y):
            raise DataError(f"{str(folder)!r}: {len(x)} {split} images but {len(y)} {split} labels.")
        out[f"x_{split}"], out[f"y_{split}"] = x, y.astype(np.int64)
    return out


def find_fashion_mnist(path: str | None) -> Path:
    candidates = [path] if path else [os.environ.get("TRAINLAB_FASHION_MNIST"), *FASHION_MNIST_DIRS]
    for c in candidates:
        if c and Path(c).is_dir():
            return Path(c)
    where = repr(path) if path else " or ".join(repr(c) for c in FASHION_MNIST_DIRS)
    raise DataError(
        f"Fashion-MNIST not found in {where}. Install it with `apt-get install dataset-fashion-mnist` "
        "(Debian; `make run` does it), or set data.path to a folder of Fashion-MNIST IDX files."
    )


MAX_CATEGORIES = 100  # a text column with more values than this looks like an identifier or free text
MISSING = ("", "na", "n/a", "nan", "null", "none", "?")  # what a table writes for "no value", any case


class Table(NamedTuple):
    x: np.ndarray                  # (N, F) float32 features, categorical columns one-hot
    labels: list                   # the label column's raw cells
    feature_names: tuple[str, ...]
    columns: tuple[str, ...]       # the input columns, before one-hot encoding
    categories: dict               # categorical column → its values
    groups: list | None            # the group column's cells (e.g. a patient id), when one is named
    extra: dict = {}               # other columns asked for by name (subgroups): their cells as text


def read_table(path: str | Path, label: str, features: list[str] | None, categorical: list[str] | None = None,
               missing: bool = False, group: str = "", extra: list[str] = (), exclude: list[str] = (),
               fill: str = "median") -> Table:
    """Read a CSV/TSV/Parquet table. A column of texts (or one listed in `categorical`) is one-hot
    encoded over its values, sorted; each becomes a feature "column=value". In a numeric column, a
    non-numeric cell is an error naming its row and column; so is a missing one (empty, NA, nan, ...)
    unless `missing`, which leaves it NaN to be filled in after the split. The `group` column (say,
    a patient) is read as group ids, never as a feature; the `extra` columns (features or not) as text;
    the `exclude` columns are no features unless named in `features`; `fill`: the data.missing an error
    on a missing cell suggests."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"Table file {str(path)!r} does not exist.")
    if path.suffix.lower() in (".parquet", ".pq"):
        header, rows = _read_parquet(path)
        first_row = 0
    else:
        header, rows = read_csv_rows(path)
        first_row = 2  # 1-based line numbers, after the header
    for what, c in (("label", label), ("group", group), *(("", c) for c in extra)):
        if c and c not in header:
            raise DataError(f"{str(path)!r} has no {what + ' ' * bool(what)}column {c!r}; its columns are "
                            f"{', '.join(header)}.")
    names = features or [c for c in header if c not in (label, group, *exclude)]
    for n in [*names, *(categorical or ())]:
        if n not in header:
            raise DataError(f"{str(path)!r} has no feature column {n!r}; its columns are {', '.join(header)}.")
    if group and group in names:
        raise DataError(f"{str(path)!r}: the group column {group!r} cannot also be a feature (data.features).")
    forced = [c for c in categorical or () if c not in names]
    if forced:
        raise DataError(f"{str(path)!r}: categorical column {forced[0]!r} is not among the features "
                        f"({', '.join(names)}).")
    if not rows:
        raise DataError(f"Table {str(path)!r} has no data rows.")
    for r, row in enumerate(rows):
        if len(row) != len(header):
            raise DataError(f"{str(path)!r} row {r + first_row} has {len(row)} cells; the header has {len(header)}.")
    def texts(column: str) -> list[str]:
        j = header.index(column)
        return [cell_text(row[j]) for row in rows]

    labels = texts(label)  # " cat" and "cat " are the class "cat"
    # (not all of MISSING: "none" or "NA" may be a class)
    empty = [r for r, v in enumerate(labels) if v.lower() in ("", "nan")]
    if empty:  # a row without a label can neither train nor test, and is no class "" of its own
        raise DataError(f"{str(path)!r} row {empty[0] + first_row}: the label cell ({label!r}) is empty"
                        f"{f', and in {len(empty) - 1:,} more rows' if len(empty) > 1 else ''}. Drop or label those "
                        "rows (a trained run predicts them: trainlab predict).")
    idx = [header.index(n) for n in names]
    cells = [[row[i] for i in idx] for row in rows] if len(idx) < 2 else list(map(operator.itemgetter(*idx), rows))
    categories, numbers = {}, {}
    for j, column in enumerate(zip(*cells)):
        n = names[j]
        numbers[j] = finite_column(column) if n not in (categorical or ()) else None
        if numbers[j] is not None:
            continue  # numbers throughout (the common case, at NumPy's pace)
        column = [cell_text(c) for c in column]
        if n in (categorical or ()) or _mostly_text(column):
            values = sorted(set(column))
            if n not in (categorical or ()) and len(values) > MAX_CATEGORIES:
                raise DataError(
                    f"{str(path)!r} column {n!r} holds {len(values)} different texts: an identifier or free text, "
                    f"not a category. Leave it out with data.features, or name it in data.categorical to one-hot "
                    f"encode it anyway.")
            categories[n] = tuple(values)
    x = encode_cells(cells, names, categories,
                     lambda r, j: f"{str(path)!r} row {r + first_row}, column {names[j]!r}",
                     "Clean the table, leave the column out with data.features, name it in data.categorical if it "
                     f"is a category, or set data.missing = \"{fill}\" to fill missing cells.", missing, numbers)
    groups = texts(group) if group else None
    return Table(x, labels, one_hot_names(names, categories), tuple(names),
                 categories, groups, {c: texts(c) for c in extra})


def cell_text(cell) -> str:
    """A categorical cell as the text it is known by: stripped; a missing Parquet value is ""."""
    return "" if cell is None or (isinstance(cell, float) and cell != cell) else str(cell).strip()


def finite_number(cell) -> float | None:
    """The cell as a finite float, or None (not a number, NaN or infinite)."""
    try:
        v = float(cell)
    except (TypeError, ValueError):
        return None
    return v if np.isfinite(v) else None


def finite_column(column) -> np.ndarray | None:
    """A column's cells as float64 when each is a finite number, read by NumPy as float() reads one; else None."""
    try:
        v = np.array(column, dtype=np.float64)
    except (ValueError, TypeError):
        return None
    return v if np.isfinite(v).all() else None


def _mostly_text(column: list[str]) -> bool:
    filled = [c for c in column if c.lower() not in MISSING]
    return sum(finite_number(c) is None for c in filled) * 2 > len(filled)


def one_hot_names(columns, categories: dict) -> tuple[str, ...]:
    """The model's input features: a numeric column as it is, a categorical one as "column=value" per value."""
    return tuple(f for c in columns for f in ([f"{c}={v}" for v in categories[c]] if c in categories else [c]))


def encode_cells(cells, columns, categories: dict, where, hint: str = "", missing: bool = False,
                 numbers: dict | None = None) -> np.ndarray:
    """Rows of cells, one per column in `columns` order → float32 (N, F): numbers as they are, each
    categorical column one-hot over its values. `where(row, column index)` names a cell in errors:
    a number that is not finite, or a category the table did not have. With `missing`, a missing
    number (None, NaN, "", "NA", ...) is NaN, for the training median to fill. `numbers`: column index →
    its finite_column, when known."""
    width = [len(categories[c]) if c in categories else 1 for c in columns]
    offset = np.concatenate([[0], np.cumsum(width)]).astype(int)
    index = {c: {v: i for i, v in enumerate(categories[c])} for c in categories}
    x = np.zeros((len(cells), int(offset[-1])), np.float32)
    cell_by_cell = []  # categories, and columns not of finite numbers throughout: their errors, their gaps
    known = numbers or {}
    for j, column in enumerate(zip(*cells)):
        v = None if columns[j] in categories else known[j] if j in known else finite_column(column)
        if v is None:
            cell_by_cell.append(j)
        else:
            x[:, offset[j]] = v
    for r, row in enumerate(cells):
        for j in cell_by_cell:
            c, cell = columns[j], row[j]
            if c in categories:
                k = index[c].get(cell_text(cell))
                if k is None:
                    raise DataError(f"{where(r, j)}: {cell!r} is not one of the categories seen in training "
                                    f"({', '.join(map(repr, categories[c]))}).")
                x[r, offset[j] + k] = 1.0
                continue
            v = finite_number(cell)
            if v is None and missing and (cell_text(cell).lower() in MISSING or cell != cell):
                v = np.nan
            if v is None:
                raise DataError(f"{where(r, j)}: {cell!r} is not a finite number. {hint}".rstrip())
            x[r, offset[j]] = v
    return x


DELIMITERS = ",;\t|"  # what a header line may be cut by, the comma first on a tie
DECIMAL_COMMA = re.compile(r"^\s*[+-]?\d+,\d+\s*$")
ENCODINGS = ("utf-8-sig", "cp1252")  # UTF-8 (with or without a byte-order mark), else what Excel on Windows writes
_SAID: set[str] = set()  # the tables already said not to be UTF-8


def read_csv_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a delimited text table, in UTF-8 or, failing that, Windows-1252 (said in the log).
    The delimiter is the one the header line holds most of (a .tsv or .tab file: tabs); in a file cut by
    semicolons, as spreadsheets write where the comma is the decimal mark, a number written 3,5 is read as 3.5.
    Read once, so that a pipe (/dev/stdin, a shell's <(command)) is read too."""
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise DataError(f"Cannot read table {str(path)!r}: {err}.") from None
    for encoding in ENCODINGS:
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError as err:
            if encoding == ENCODINGS[-1]:
                raise DataError(f"Cannot read table {str(path)!r}: it is neither UTF-8 nor Windows-1252 text "
                                f"({err}). Save it as UTF-8 CSV.") from None
    first = text.partition("\n")[0]
    delimiter = "\t" if path.suffix.lower() in (".tsv", ".tab") else \
        max(DELIMITERS, key=lambda d: (first.count(d), d == ","))
    try:
        rows = [r for r in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter) if r]
    except csv.Error as err:
        raise DataError(f"Cannot read table {str(path)!r}: {err}.") from None
    if encoding != ENCODINGS[0] and str(path) not in _SAID:
        _SAID.add(str(path))  # once, though the starter and the dataset both read it
        log.warning("%s is not UTF-8; read as Windows-1252 (Excel's encoding on Windows)", path)
    if not rows:
        raise DataError(f"Table {str(path)!r} is empty.")
    if delimiter == ";":
        rows = [[c.replace(",", ".") if DECIMAL_COMMA.match(c) else c for c in r] for r in rows]
    return [h.strip() for h in rows[0]], rows[1:]


def _read_parquet(path: Path) -> tuple[list[str], list[list]]:
    try:
        import pandas as pd
    except ImportError:
        raise DataError("Reading Parquet needs pandas and pyarrow: pip install 'trainlab[tables]'.") from None
    try:
        df = pd.read_parquet(path)
    except Exception as err:  # pyarrow raises many types for a bad file
        raise DataError(f"Cannot read Parquet file {str(path)!r}: {err}.") from None
    return [str(c) for c in df.columns], df.astype(object).values.tolist()


def peek_table(path: Path) -> tuple[list[str], list[list[str]]]:
    """A CSV/TSV/Parquet table's header and its rows as text (a missing Parquet value is "")."""
    if path.suffix.lower() in (".parquet", ".pq"):
        header, rows = _read_parquet(path)
        return header, [[cell_text(c) for c in row] for row in rows]
    return read_csv_rows(path)


def load_sklearn(name: str):
    import sklearn.datasets as skd

    return getattr(skd, f"load_{name}")()


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".npy")


def read_image(source, shape: tuple[int, ...], name: str | None = None) -> np.ndarray:
    """An image (PNG/JPEG/TIFF/BMP via Pillow, or a .npy array) from a path or a binary file
    object, as a float32 array of `shape` (C, H, W): converted to grey or RGB and resized as
    needed, values kept in their original units (0-255 for 8-bit images), as in training."""
    name = name or str(source)
    c, h, w = shape
    if name.lower().endswith(".npy"):
        try:
            a = np.load(source, allow_pickle=False)
        except FileNotFoundError:
            raise DataError(f"Image {name!r} does not exist.") from None
        except (OSError, ValueError, EOFError) as err:
            raise DataError(f"Cannot read {name!r} as a NumPy array: {err}.") from None
        return check_image_array(a, shape, name)
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(source) as im:
            im = im.convert("L" if c == 1 else "RGB")
            if im.size != (w, h):
                im = im.resize((w, h), Image.BILINEAR)
            a = np.asarray(im, dtype=np.float32)
    except FileNotFoundError:
        raise DataError(f"Image {name!r} does not exist.") from None
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as err:
        raise DataError(f"Cannot decode image {name!r}: {err}. Is it a PNG, JPEG or TIFF file?") from None
    return a[None] if c == 1 else a.transpose(2, 0, 1)  # (H, W, C) → (C, H, W)


def check_image_array(a, shape: tuple[int, ...], what: str) -> np.ndarray:
    """Accept (C, H, W), or (H, W) for one channel; anything else is an error naming the shape."""
    a = np.asarray(a)
    if not np.issubdtype(a.dtype, np.number):
        raise DataError(f"{what}: expected numbers, received an array of {a.dtype}.")
    if a.ndim == 2 and shape[0] == 1:
        a = a[None]
    if tuple(a.shape) != tuple(shape):
        raise DataError(f"{what}: expected an image of shape {list(shape)} (or {list(shape[1:])} for one channel); "
                        f"received {list(a.shape)}.")
    return finite_float32(a, what)


def finite_float32(a: np.ndarray, what: str, nan_ok: bool = False) -> np.ndarray:
    """a as float32; NaN (unless `nan_ok`: a missing value the run fills in) or infinite values
    are an error naming `what`."""
    a = a.astype(np.float32)
    if np.isinf(a).any() or not nan_ok and np.isnan(a).any():
        raise DataError(f"{what}: NaN or infinite values.")
    return a


def image_files(paths) -> list[Path]:
    """Expand folders into their image files (sorted); keep files as given."""
    out = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise DataError(f"Folder {str(p)!r} holds no image files ({', '.join(IMAGE_SUFFIXES)}).")
            out += found
        elif not p.exists():
            raise DataError(f"Input {str(p)!r} does not exist.")
        else:
            out.append(p)
    return out


CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """CIFAR-10's "python version" is pickled. Unpickle only plain containers and NumPy arrays:
    any other global in the file is refused, so a tampered file cannot run code."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR-10 batch")


def _cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as f:
            d = _NumpyOnlyUnpickler(f, encoding="bytes").load()
    except FileNotFoundError:
        raise DataError(f"Missing CIFAR-10 file {str(path)!r}. The python version holds data_batch_1..5, test_batch "
                        "and batches.meta (cifar-10-batches-py/).") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as err:
        raise DataError(f"{str(path)!r} is not a readable CIFAR-10 batch: {err}.") from None
    if not isinstance(d, dict) or b"data" not in d or b"labels" not in d:
        raise DataError(f"{str(path)!r} is not a CIFAR-10 batch: it has no b'data' and b'labels' entries.")
    x, y = np.asarray(d[b"data"]), np.asarray(d[b"labels"], dtype=np.int64)
    if x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3072 or len(x) != len(y):
        raise DataError(f"{str(path)!r}: expected uint8 data of shape [N, 3072] and N labels; "
                        f"received {x.dtype} {list(x.shape)} and {len(y)} labels.")
    return x.reshape(-1, 3, 32, 32), y  # rows are R, G, B planes of 32×32


def read_cifar10(folder: str | Path) -> dict:
    folder = Path(folder)
    if (folder / "cifar-10-batches-py").is_dir():
        folder = folder / "cifar-10-batches-py"
    if not folder.is_dir():
        raise DataError(f"CIFAR-10 folder {str(folder)!r} does not exist.")
    parts = [_cifar_batch(folder / f"data_batch_{i}") for i in range(1, 6)]
    x_test, y_test = _cifar_batch(folder / "test_batch")
    return {"x_train": np.concatenate([p[0] for p in parts]), "y_train": np.concatenate([p[1] for p in parts]),
            "x_test": x_test, "y_test": y_test}


def read_image_folder(folder: str | Path, size: int, channels: int, skip_bad: bool):
    """One sub-folder per class, images inside (PNG/JPEG/TIFF/BMP). Returns (x uint8 (N, C, H, W),
    y, class names, files skipped, the files read). Every image is resized to size×size (size 0: keep,
    if they all match)."""
    from PIL import Image, UnidentifiedImageError

    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"Image folder {str(folder)!r} does not exist.")
    classes = sorted(d.name for d in folder.iterdir() if d.is_dir())
    if not classes:
        raise DataError(f"{str(folder)!r} has no class sub-folders: put each class's images in a folder named after it.")
    xs, ys, files, skipped, shape = [], [], [], 0, None
    for label, name in enumerate(classes):
        for f in sorted(p for p in (folder / name).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.suffix != ".npy"):
            try:
                with Image.open(f) as im:
                    im = im.convert("L" if channels == 1 else "RGB")
                    if size:
                        im = im.resize((size, size), Image.BILINEAR)
                    a = np.asarray(im, dtype=np.uint8)
            except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as err:
                if skip_bad:
                    skipped += 1
                    continue
                raise DataError(f"Cannot read image {str(f)!r}: {err}. Remove it, or set data.skip_bad = true "
                                "to skip unreadable files (they are counted in the report).") from None
            a = a[None] if channels == 1 else a.transpose(2, 0, 1)  # (C, H, W)
            if shape is not None and a.shape != shape:
                raise DataError(f"Image {str(f)!r} is {a.shape[2]}×{a.shape[1]}, others are {shape[2]}×{shape[1]}: "
                                "set data.size to resize them all.")
            shape = a.shape
            xs.append(a)
            ys.append(label)
            files.append(f)
    if not xs:
        raise DataError(f"No readable images under {str(folder)!r}.")
    return np.stack(xs), np.asarray(ys, np.int64), classes, skipped, files


def read_text_table(path: str | Path, text: str, label: str) -> tuple[list[str], list[str]]:
    """(texts, raw labels) from a CSV/TSV (header row) or JSONL file (one object a line)."""
    import json

    path = Path(path)
    if not path.is_file():
        raise DataError(f"Text file {str(path)!r} does not exist.")
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        rows = []
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as err:
                    raise DataError(f"{str(path)!r} line {n} is not JSON: {err}.") from None
        header = sorted({k for r in rows for k in r})
    else:
        header, cells = read_csv_rows(path)
        rows = [dict(zip(header, r)) for r in cells]
    for col in (text, label):
        if col not in header:
            raise DataError(f"{str(path)!r} has no column {col!r}; its columns are {', '.join(header)}.")
    for n, r in enumerate(rows, 1):
        if not isinstance(r.get(text), str) or not r[text].strip():
            raise DataError(f"{str(path)!r} row {n}: the {text!r} cell is empty or not text.")
        if cell_text(r.get(label)) == "":
            raise DataError(f"{str(path)!r} row {n}: the {label!r} cell is empty.")
    if not rows:
        raise DataError(f"{str(path)!r} has no rows.")
    return [r[text] for r in rows], [cell_text(r[label]) for r in rows]  # " pos" is the class "pos"


def read_arrays(path: str | Path, keys: list[str], optional: list[str]) -> dict[str, np.ndarray]:
    """NumPy arrays by name from a .npz file or a folder of <name>.npy files, read without unpickling:
    each of `keys` must be there, each of `optional` is read when it is."""
    path = Path(path).expanduser()
    if path.is_dir():
        found = {f.stem: f for f in path.glob("*.npy")}
        where = f"folder {str(path)!r}"
    elif path.is_file() and path.suffix.lower() == ".npz":
        found, where = None, f"{str(path)!r}"
    else:
        raise DataError(f"data.path = {str(path)!r} is neither a .npz file nor a folder of .npy files.")
    try:
        store = np.load(path, allow_pickle=False) if found is None else None
        names = set(store.files) if store is not None else set(found)
        missing = [k for k in keys if k not in names]
        if missing:
            raise DataError(f"{where} has no array {missing[0]!r}; it holds {', '.join(sorted(names)) or 'none'}. "
                            "Name the arrays with data.x and data.y (data.x_test, data.y_test, data.groups).")
        return {k: np.asarray(store[k] if store is not None else np.load(found[k], allow_pickle=False))
                for k in [*keys, *(k for k in optional if k in names)]}
    except ValueError as err:  # "Object arrays cannot be loaded when allow_pickle=False"
        raise DataError(f"{where}: {err}. Save numbers, or strings as a fixed-width array (np.array(labels, dtype=str)); "
                        "trainlab unpickles nothing.") from None
    except (OSError, EOFError) as err:
        raise DataError(f"Cannot read {where} as NumPy arrays: {err}.") from None


def peek_images(folder: Path, per_class: int = 20) -> tuple[set, set]:
    """The (width, height) sizes and Pillow modes of a few images in each class folder (headers only)."""
    from PIL import Image, UnidentifiedImageError

    sizes, modes = set(), set()
    for d in sorted(p for p in folder.iterdir() if p.is_dir()):
        for f in sorted(p for p in d.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.suffix != ".npy")[:per_class]:
            try:
                with Image.open(f) as im:
                    sizes.add(im.size)
                    modes.add(im.mode)
            except (UnidentifiedImageError, OSError, ValueError):
                continue  # the reader names it
    return sizes, modes


def peek_arrays(path: Path) -> dict[str, tuple]:
    """The shapes and dtypes of the arrays in a .npz file or a folder of .npy files, without reading them."""
    if path.is_dir():
        return {f.stem: (a.shape, a.dtype) for f in sorted(path.glob("*.npy"))
                for a in [np.load(f, mmap_mode="r", allow_pickle=False)]}
    import zipfile

    fmt, out = np.lib.format, {}
    try:
        with zipfile.ZipFile(path) as z:
            for name in (n for n in z.namelist() if n.endswith(".npy")):
                with z.open(name) as f:  # each member's header: its shape and dtype
                    header = fmt.read_array_header_1_0 if fmt.read_magic(f) == (1, 0) else fmt.read_array_header_2_0
                    shape, _, dtype = header(f)
                out[name[:-4]] = (shape, dtype)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise DataError(f"Cannot read {str(path)!r} as NumPy arrays: {err}.") from None
    return out


def read_imdb(folder: str | Path) -> dict:
    """IMDB's published layout (aclImdb/): train|test/pos|neg/*.txt."""
    folder = Path(folder)
    if (folder / "aclImdb").is_dir():
        folder = folder / "aclImdb"
    out = {}
    for part in ("train", "test"):
        texts, labels = [], []
        for label, sub in enumerate(("neg", "pos")):
            d = folder / part / sub
            if not d.is_dir():
                raise DataError(f"Missing {str(d)!r}. IMDB's layout is aclImdb/train|test/pos|neg/*.txt.")
            for f in sorted(d.glob("*.txt")):
                texts.append(f.read_text(encoding="utf-8", errors="replace").replace("<br />", " "))
                labels.append(label)
        out[f"x_{part}"], out[f"y_{part}"] = np.array(texts, dtype=object), np.array(labels, np.int64)
    return out


# --- segmentation: images and instance masks ---

def read_plane(path: Path) -> np.ndarray:
    """One image file as an array in its own dtype: TIFF via tifffile, PNG/JPEG/BMP via Pillow.
    (H, W) for grey, (H, W, C) for colour; errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"Image {str(path)!r} does not exist.")
    try:
        if path.suffix.lower() in (".tif", ".tiff"):
            try:
                import tifffile
            except ImportError:
                raise DataError("Reading TIFF needs tifffile: pip install 'trainlab[segmentation]'.") from None
            a = tifffile.imread(path)
        elif path.suffix.lower() == ".npy":
            a = np.load(path, allow_pickle=False)
        else:
            from PIL import Image

            with Image.open(path) as im:
                a = np.asarray(im)
    except DataError:
        raise
    except Exception as err:  # a truncated or corrupt file: each library has its own error types
        raise DataError(f"Cannot read image {str(path)!r}: {err}.") from None
    if a.size == 0:
        raise DataError(f"Cannot read image {str(path)!r}: it holds no pixels (a corrupt or truncated file?).")
    a = np.squeeze(a)
    if a.ndim == 3 and a.shape[0] in (3, 4) and a.shape[-1] not in (3, 4):  # (C, H, W) TIFF → (H, W, C)
        a = np.moveaxis(a, 0, -1)
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[-1] not in (3, 4)):
        raise DataError(f"Image {str(path)!r} has shape {list(a.shape)}; expected one 2-D plane (grey or RGB).")
    return a


def grey_percentiles(a: np.ndarray, low: float = 1.0, high: float = 99.8) -> np.ndarray:
    """A fluorescence image (8 or 16 bit, grey or RGB) → float32 in about [0, 1], normalised per image
    between its `low` and `high` percentiles (robust to hot pixels and empty fields)."""
    a = a[..., :3].mean(-1) if a.ndim == 3 else a
    a = a.astype(np.float32)
    lo, hi = np.percentile(a, [low, high])
    return ((a - lo) / max(hi - lo, 1e-6)).astype(np.float32)


def consecutive_ids(a: np.ndarray) -> np.ndarray:
    """Instance ids renumbered 1..k in their order (0, background, and negative padding kept): the object
    count is then the largest id, as the segmentation metrics read it."""
    seen = np.bincount(np.maximum(a, 0).ravel()) > 0
    seen[0] = False
    if seen[1:].all():
        return a
    lut = np.zeros(len(seen), a.dtype)
    lut[seen] = np.arange(1, seen.sum() + 1)
    return np.where(a > 0, lut[np.maximum(a, 0)], a)


def instance_labels(a: np.ndarray, name: str) -> np.ndarray:
    """An instance mask → int32 labels (0 background, 1..k objects). Integer masks keep the order of their
    ids, renumbered 1..k: ids with gaps (1, 2, 7, as annotation tools leave them after deleting objects) are
    k objects, not as many as the largest id. An RGB(A)-coded mask gets one id per colour and connected
    piece (black or transparent is background)."""
    from scipy import ndimage

    if a.ndim == 2:
        if not np.issubdtype(a.dtype, np.integer) and not np.all(np.mod(a, 1) == 0):
            raise DataError(f"Mask {name!r} holds non-integer values; expected instance ids (0 = background).")
        if a.min() < 0:
            raise DataError(f"Mask {name!r} holds negative ids; expected 0 for background and 1..k for objects.")
        return consecutive_ids(a.astype(np.int32))
    rgb = a[..., :3].astype(np.int64)
    fg = rgb.any(-1) & ((a[..., 3] > 0) if a.shape[-1] == 4 else True)
    code = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    out, n = np.zeros(a.shape[:2], np.int32), 0
    for c in np.unique(code[fg]):
        pieces, k = ndimage.label(fg & (code == c))
        out[pieces > 0] = pieces[pieces > 0] + n
        n += k
    return out


def read_segmentation_pairs(images: Path, masks: Path, what: str) -> tuple[list[np.ndarray], list[np.ndarray], list[str]]:
    """Images and instance masks matched by file name (stem): each image needs exactly one mask of the
    same size. Returns (images normalised per image, int32 label masks, names)."""
    images, masks = Path(images), Path(masks)
    for d in (images, masks):
        if not d.is_dir():
            raise DataError(f"{what}: folder {str(d)!r} does not exist.")
    mask_by_stem = {}
    for f in sorted(masks.iterdir()):
        if f.suffix.lower() in IMAGE_SUFFIXES:
            mask_by_stem.setdefault(f.stem, f)
    files = sorted(f for f in images.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f"{what}: {str(images)!r} holds no image files ({', '.join(IMAGE_SUFFIXES)}).")
    xs, ys, names = [], [], []
    for f in files:
        if f.stem not in mask_by_stem:
            raise DataError(f"{what}: image {f.name!r} has no mask in {str(masks)!r} (expected a file named {f.stem}.*).")
        x, m = read_plane(f), instance_labels(read_plane(mask_by_stem[f.stem]), str(mask_by_stem[f.stem]))
        if x.shape[:2] != m.shape:
            raise DataError(f"{what}: image {f.name!r} is {x.shape[0]}×{x.shape[1]} but its mask "
                            f"{mask_by_stem[f.stem].name!r} is {m.shape[0]}×{m.shape[1]}.")
        xs.append(grey_percentiles(x))
        ys.append(m)
        names.append(f.name)
    return xs, ys, names
