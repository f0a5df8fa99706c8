"""Normalisation with statistics fitted on the training split only, stored with the run so
prediction uses exactly the training preprocessing."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np


@dataclass
class Normalizer:
    mode: str                                  # "standard" | "minmax" | "none"
    axes: str                                  # "feature" (tables) | "channel" (images) | "tokens" (text)
    shift: list[float] = field(default_factory=list)
    scale: list[float] = field(default_factory=list)
    target_shift: float = 0.0                  # regression targets are standardised too
    target_scale: float = 1.0

    @classmethod
    def fit(cls, x: np.ndarray, mode: str, kind: str, y: np.ndarray | None = None) -> "Normalizer":
        axes = "channel" if kind == "image" else "feature"
        x = x.astype(np.float64)
        flat = x.reshape(len(x), x.shape[1], -1).transpose(1, 0, 2).reshape(x.shape[1], -1) if axes == "channel" \
            else x.reshape(len(x), -1).T  # (C or F, values)
        if mode == "standard":
            shift, scale = flat.mean(1), flat.std(1)
        elif mode == "minmax":
            shift, scale = flat.min(1), flat.max(1) - flat.min(1)
        else:
            shift, scale = np.zeros(len(flat)), np.ones(len(flat))
        scale = np.where(scale > 1e-12, scale, 1.0)  # a constant feature stays constant
        norm = cls(mode, axes, shift.tolist(), scale.tolist())
        if y is not None and np.issubdtype(y.dtype, np.floating):
            norm.target_shift, norm.target_scale = float(y.mean()), float(y.std() or 1.0)
        return norm

    def apply(self, x: np.ndarray) -> np.ndarray:
        """(N, C, H, W) or (N, F) → float32, normalised. Token ids (axes "tokens") pass through."""
        if self.axes == "tokens":
            return x
        shape = (1, -1) + (1,) * (x.ndim - 2) if self.axes == "channel" else (1,) + x.shape[1:]
        shift = np.asarray(self.shift, np.float32).reshape(shape)
        scale = np.asarray(self.scale, np.float32).reshape(shape)
        return ((x.astype(np.float32) - shift) / scale).astype(np.float32)

    def apply_target(self, y: np.ndarray) -> np.ndarray:
        return ((y - self.target_shift) / self.target_scale).astype(np.float32)

    def to_dict(self) -> dict:
        return asdict(self)
