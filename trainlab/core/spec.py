"""DataSpec: the contract between data and models. A model learns its input shape and
output size from here, never by importing `data`."""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class DataSpec:
    kind: str                      # "image" | "table" | "points" | "text" | "sequence" | "series" (T, F)
    input_shape: tuple[int, ...]   # one sample, e.g. (1, 28, 28) or (30,)
    target: str                    # "class" | "real"
    num_classes: int = 0           # 0 for regression
    class_names: tuple[str, ...] = ()
    feature_names: tuple[str, ...] = ()
    num_targets: int = 1           # regression outputs
    vocab_size: int = 0            # text: token ids are < vocab_size (0 is padding)
    columns: tuple[str, ...] = ()  # tables: the input columns, before one-hot encoding (empty: feature_names)
    categories: tuple[tuple[str, tuple[str, ...]], ...] = ()  # tables: categorical column → its values
    padded: bool = False           # series of several lengths, padded to the longest with NaN steps

    @property
    def num_features(self) -> int:
        n = 1
        for d in self.input_shape:
            n *= d
        return n

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "DataSpec":
        d = dict(d)
        for k in ("input_shape", "class_names", "feature_names", "columns"):
            d[k] = tuple(d.get(k, ()))
        d["categories"] = tuple((c, tuple(v)) for c, v in d.get("categories", ()))
        return cls(**d)

    @property
    def category_values(self) -> dict[str, list[str]]:
        """Tables: categorical column → its values (JSON-ready), as in the run's metadata and export card."""
        return {c: list(v) for c, v in self.categories}

    @property
    def input_columns(self) -> tuple[str, ...]:
        """What a table row must hold: its columns before one-hot encoding."""
        return self.columns or self.feature_names
