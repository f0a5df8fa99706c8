"""Series written as a table in long format, one row a step: a column naming the series each row belongs to
(a recording, a subject's session, a patient's stay) and, optionally, one ordering the steps (a time, a
step number; otherwise the file's order). The rows are grouped into (N, T, F) series, a shorter one
padded after its end with NaN steps, or cut into windows of a fixed number of steps, each a sample."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.errors import DataError

MAX_BYTES = 4 << 30  # series padded to the longest larger than this: cut them into windows instead


@dataclass
class Grouped:
    x: np.ndarray              # (N, T, F) float32; NaN steps after a shorter series' end
    rows: list[np.ndarray]     # each sample's rows of the table, in step order
    names: list[str]           # each sample in words: "r7", or "r7, steps 50-99"
    series: np.ndarray         # (N,) each sample's series id, as the table wrote it
    count: int                 # how many series the table holds
    too_short: int = 0         # series shorter than a window, left out
    mixed: int = 0             # windows whose rows are not all of one label, left out


def group(x_rows: np.ndarray, ids: list[str], where: str, *, order: tuple[str, list[str]] | None = None,
          window: int = 0, stride: int = 0, fill: bool = False, labels: list[str] | None = None,
          feature_names=(), first_row: int = 2) -> Grouped:
    """Rows (R, F) of a long table → series. `ids`: each row's series; `order`: (the column, its cells) giving
    each row's place in its series (numbers or ISO dates; two rows of one series at the same place are an
    error), else the file's order. `fill`: a
    missing value (NaN) takes the last one before it in its series (the first ones, the first after them).
    With `window`, each series is cut into windows of that many steps, one every `stride` steps (default:
    `window`, no overlap); a shorter series is left out, and with `labels` (each row's), so is a window
    whose rows are not all of one label. Errors name the table row (counted from `first_row`)."""
    from .datasets import moments

    order_text = None
    if order is not None:
        order, order_text = moments(order[1], f"{where} column {order[0]!r}")
    ids = np.array([str(i).strip() for i in ids], dtype=str)
    empty = np.flatnonzero(ids == "")
    if len(empty):
        raise DataError(f"{where} row {int(empty[0]) + first_row}: no series id; every row belongs to one series.")
    names, first, inverse = np.unique(ids, return_index=True, return_inverse=True)
    rank = np.argsort(np.argsort(first))  # series in the order the table first writes them
    within = np.arange(len(ids)) if order is None else order
    by = np.lexsort((np.arange(len(ids)), within, rank[inverse]))
    counts = np.bincount(rank[inverse], minlength=len(names))
    members = np.split(by, np.cumsum(counts)[:-1])
    series = names[np.argsort(rank)].tolist()
    if order is not None:
        for sid, rows in zip(series, members):
            same = np.flatnonzero(np.diff(order[rows]) == 0)
            if len(same):
                a, b = rows[same[0]], rows[same[0] + 1]
                raise DataError(f"{where}: rows {min(a, b) + first_row} and {max(a, b) + first_row} of series {sid!r} "
                                f"are both at {order_text[a]}; a series has one row a step (two recordings under one "
                                "id?).")
    x_rows = np.asarray(x_rows, np.float32)
    if fill:
        x_rows = x_rows.copy()
        for sid, rows in zip(series, members):
            x_rows[rows] = _carried(x_rows[rows], sid, where, feature_names)
    samples, labelled, owners, too_short, mixed = [], [], [], 0, 0
    for sid, rows in zip(series, members):
        if not window:
            samples.append(rows)
            labelled.append(sid)
            owners.append(sid)
            continue
        if len(rows) < window:
            too_short += 1
        for start in starts(len(rows), window, stride):
            part = rows[start:start + window]
            if labels is not None and len({labels[r] for r in part}) > 1:
                mixed += 1
                continue
            samples.append(part)
            labelled.append(window_name(sid, start, window))
            owners.append(sid)
    if not samples:
        raise DataError(f"{where}: no window of {window} steps" + (f" ({too_short} of {len(series)} series are "
                        "shorter)" if too_short else "") + (f"; {mixed} windows span two labels" if mixed else "")
                        + ". Set a smaller data.window" + (", or data.window_label = \"last\" or \"majority\" to "
                                                           "label a window by its rows" if mixed else "") + ".")
    steps = max(map(len, samples))
    size = len(samples) * steps * x_rows.shape[1] * 4
    if size > MAX_BYTES:
        raise DataError(f"{where}: {len(samples):,} series padded to the longest, {steps:,} steps, take "
                        f"{size / 2**30:.1f} GB; cut them into windows of fewer steps (data.window).")
    x = np.full((len(samples), steps, x_rows.shape[1]), np.nan, np.float32)
    for i, rows in enumerate(samples):
        x[i, :len(rows)] = x_rows[rows]
    return Grouped(x, samples, labelled, np.array(owners, dtype=str), len(series), too_short, mixed)


def starts(steps: int, window: int, stride: int = 0) -> range:
    """Where the windows of a series of `steps` steps begin: one every `stride` (default: `window`) that fits."""
    return range(0, steps - window + 1, stride or window)


WINDOW_NAME = ", steps "  # between a window's series and its steps: "rec.npy[3], steps 0-7", "rec7, steps 8-15"


def window_name(series: str, start: int, window: int) -> str:
    """A window's name: its series' and its steps, "rec7, steps 8-15"."""
    return f"{series}{WINDOW_NAME}{start}-{start + window - 1}"


def cut(x: np.ndarray, lengths: np.ndarray, window: int, stride: int = 0):
    """Series (N, T, F), each `lengths` steps long, → their windows (M, window, F), each window's series and
    its first step."""
    pairs = np.array([(i, s) for i, n in enumerate(lengths) for s in starts(int(n), window, stride)], np.int64)
    owner, first = pairs.reshape(-1, 2).T
    windows = x[owner[:, None], first[:, None] + np.arange(window)] if len(owner) else x[:0, :window]
    return windows, owner, first


def _carried(block: np.ndarray, sid: str, where: str, feature_names) -> np.ndarray:
    """One series' steps with each missing value the last one before it (the first ones: the first after)."""
    gaps = np.isnan(block)
    if not gaps.any():
        return block
    empty = np.flatnonzero(gaps.all(0))
    if len(empty):
        name = feature_names[empty[0]] if len(feature_names) > empty[0] else f"feature {empty[0] + 1}"
        raise DataError(f"{where}: series {sid!r} has no value of {name!r} in any of its {len(block)} rows, so none "
                        "to carry into its gaps.")
    steps = np.where(gaps, 0, np.arange(len(block))[:, None])
    last = np.maximum.accumulate(steps, 0)  # the step of the last value at or before each step
    filled = np.take_along_axis(block, last, 0)
    lead = np.isnan(filled)  # before the first value: the first value
    first = np.argmax(~gaps, 0)
    return np.where(lead, block[first, np.arange(block.shape[1])], filled)


WINDOW_LABELS = ("same", "last", "majority", "mean")


def window_labels(labels: list[str], g: Grouped, how: str, where: str) -> list[str]:
    """Each window's label from its rows' (data.window_label): "last", its last row's (the state the window
    leads up to); "majority", the most common (a tie: the one seen last); "mean", the mean of numbers."""
    rows = np.asarray(g.rows)  # (windows, window): row indices
    if how != "mean":
        names, codes = np.unique(np.asarray(labels, dtype=str)[rows], return_inverse=True)
        return names[window_rule(codes.reshape(rows.shape), how)[1]].tolist()
    from .sources import finite_number

    values = np.array([np.nan if (v := finite_number(c)) is None else v for c in labels], np.float64)
    bad = next((r for r in rows.ravel() if np.isnan(values[r])), None)
    if bad is not None:
        raise DataError(f"{where} row {bad + 2}: label {labels[bad]!r} is not a number; data.window_label "
                        "= \"mean\" averages numbers (\"majority\" or \"last\" take a class).")
    return [repr(float(v)) for v in window_rule(values[rows], "mean")[1]]


def window_rule(steps: np.ndarray, how: str) -> tuple[np.ndarray, np.ndarray]:
    """Each window's label from its steps' (M, window; class codes or values): (the windows kept, their
    labels). "same": the windows of one label; "last": its last step's; "majority": the most common (a tie:
    the one seen last); "mean": of values, their mean."""
    if how == "same":
        keep = (steps == steps[:, :1]).all(1)
        return keep, steps[keep, 0]
    every = np.ones(len(steps), bool)
    if how == "last":
        return every, steps[:, -1]
    if how == "mean":
        return every, steps.mean(1)
    onehot = steps[:, :, None] == np.arange(int(steps.max()) + 1)  # (M, window, K)
    last = np.where(onehot, np.arange(steps.shape[1])[None, :, None], -1).max(1)  # where each class is seen last
    return every, (onehot.sum(1) * (steps.shape[1] + 1) + last).argmax(1).astype(steps.dtype)


def per_sample(values, g: Grouped, what: str, where: str, first_row: int = 2, hint: str = "") -> list[str]:
    """A column's one value for each sample (a series' label, group, subgroup), or an error naming the series
    and the two rows whose values differ."""
    out = []
    for name, rows in zip(g.names, g.rows):
        cells = [values[r] for r in rows]
        other = next((j for j, c in enumerate(cells) if c != cells[0]), None)
        if other is not None:
            raise DataError(f"{where}: {what} changes within series {name!r}: {cells[0]!r} at row {rows[0] + first_row}, "
                            f"{cells[other]!r} at row {rows[other] + first_row}. A sample has one {what}{hint}.")
        out.append(cells[0])
    return out
