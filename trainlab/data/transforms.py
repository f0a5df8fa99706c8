"""Normalisation with statistics fitted on the training split only, stored with the run so
prediction uses exactly the training preprocessing."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np


@dataclass
class Normalizer:
    mode: str                                  # "standard" | "minmax" | "none"
    axes: str                                  # "feature" (tables) | "channel" (images) | "step" (series: per
    #                                            feature, over every step) | "tokens" (text)
    shift: list[float] = field(default_factory=list)
    scale: list[float] = field(default_factory=list)
    target_shift: float = 0.0                  # regression targets are standardised too
    target_scale: float = 1.0
    fill: list[float] = field(default_factory=list)  # tables: each feature's training median, for a missing (NaN) value
    low: list[float] = field(default_factory=list)   # tables: each feature's training range, to flag inputs outside it
    high: list[float] = field(default_factory=list)

    @classmethod
    def fit(cls, x: np.ndarray, mode: str, kind: str, y: np.ndarray | None = None, fill: bool = False) -> "Normalizer":
        axes = {"image": "channel", "series": "step"}.get(kind, "feature")
        medians = []
        if fill:  # the statistics below are those of the filled training split
            medians = np.nanmedian(x, 0)  # prepare() made sure every feature has training values
            x = np.where(np.isnan(x), medians, x).astype(np.float32)
            medians = medians.tolist()
        # (N, K, M): K statistics (channels or features), each over N·M values; no full float64 copy
        flat = x.reshape(len(x), x.shape[1], -1) if axes == "channel" else \
            x.reshape(-1, x.shape[-1], 1) if axes == "step" else x.reshape(len(x), -1, 1)
        padded = axes == "step" and np.isnan(flat).any()  # series padded to one length: their steps alone
        if mode == "standard":
            s1, s2, count = np.zeros(flat.shape[1]), np.zeros(flat.shape[1]), np.zeros(flat.shape[1])
            for i in range(0, len(flat), 4096):  # float64 sums, a block at a time
                b = flat[i:i + 4096].astype(np.float64)
                s1 += np.nansum(b, (0, 2)) if padded else b.sum((0, 2))
                s2 += np.nansum(np.square(b), (0, 2)) if padded else np.square(b).sum((0, 2))
                count += (~np.isnan(b)).sum((0, 2)) if padded else b.shape[0] * b.shape[2]
            shift = s1 / count
            scale = np.sqrt(np.maximum(s2 / count - shift ** 2, 0.0))
        elif mode == "minmax":
            least, most = (np.nanmin, np.nanmax) if padded else (np.min, np.max)
            lo, hi = least(flat, (0, 2)).astype(np.float64), most(flat, (0, 2)).astype(np.float64)
            shift, scale = lo, hi - lo
        else:
            shift, scale = np.zeros(flat.shape[1]), np.ones(flat.shape[1])
        scale = np.where(scale > 1e-12, scale, 1.0)  # a constant feature stays constant
        norm = cls(mode, axes, shift.tolist(), scale.tolist(), fill=medians)
        if axes == "feature":
            rows = x.reshape(len(x), -1)
            norm.low, norm.high = rows.min(0).astype(float).tolist(), rows.max(0).astype(float).tolist()
        if y is not None and np.issubdtype(y.dtype, np.floating):
            norm.target_shift, norm.target_scale = float(y.mean()), float(y.std() or 1.0)
        return norm

    def broadcast(self, sample_shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        """(shift, scale) as float32 arrays that broadcast against a batch of `sample_shape` samples."""
        shape = (1, -1) + (1,) * (len(sample_shape) - 1) if self.axes == "channel" else \
            (1,) * len(sample_shape) + (-1,) if self.axes == "step" else (1, *sample_shape)
        return (np.asarray(self.shift, np.float32).reshape(shape), np.asarray(self.scale, np.float32).reshape(shape))

    def apply(self, x: np.ndarray) -> np.ndarray:
        """(N, C, H, W), (N, T, F) or (N, F) → float32, normalised. Token ids (axes "tokens") pass through."""
        if self.axes == "tokens":
            return x
        shift, scale = self.broadcast(x.shape[1:])
        if self.fill:
            x = np.where(np.isnan(x), np.asarray(self.fill, np.float32), x)
        out = x.astype(np.float32)  # one new array, worked on in place: the same float32 arithmetic
        out -= shift
        out /= scale
        return out

    def outside(self, x: np.ndarray) -> list[list[int]]:
        """For each row of a table (in its own units), the features whose value lies outside the
        training split's range: a prediction there extrapolates. Missing values are not counted."""
        if not self.low:
            return [[] for _ in x]
        rows = np.asarray(x, np.float64).reshape(len(x), -1)
        low, high = np.asarray(self.low), np.asarray(self.high)
        tol = 1e-6 * np.maximum(1.0, high - low)  # float32 rounding is not outside
        with np.errstate(invalid="ignore"):
            off = (rows < low - tol) | (rows > high + tol)
        return [np.flatnonzero(r).tolist() for r in off]

    def invert(self, x: np.ndarray) -> np.ndarray:
        """Normalised inputs back to the data's own units (for pictures of samples)."""
        if self.axes == "tokens":
            return x
        shift, scale = self.broadcast(x.shape[1:])
        return x * scale + shift

    def pixels(self, x):
        """For images normalised from 8-bit pixels: the pixels (uint8, a quarter of the bytes) and a
        PixelDecoder that gives back exactly `x` from them; None for any other data."""
        import torch

        if self.axes != "channel" or x.dtype != torch.float32 or x.ndim != 4:
            return None
        decoder = PixelDecoder(*(torch.from_numpy(a) for a in self.broadcast(tuple(x.shape[1:]))))
        out = torch.empty(x.shape, dtype=torch.uint8)
        for i in range(0, len(x), 4096):  # a block at a time: no float64 copy of the whole set
            u = torch.round(x[i:i + 4096].double() * decoder.scale.double() + decoder.shift.double())
            if u.min() < 0 or u.max() > 255:
                return None
            out[i:i + 4096] = u.to(torch.uint8)
            if not torch.equal(decoder(out[i:i + 4096]), x[i:i + 4096]):  # the same float32 arithmetic as apply()
                return None
        return out, decoder

    def apply_target(self, y: np.ndarray) -> np.ndarray:
        return ((y - self.target_shift) / self.target_scale).astype(np.float32)

    def to_dict(self) -> dict:
        return asdict(self)


class PixelDecoder:
    """8-bit pixels → normalised float32 on the batch's device: (x − shift) / scale, the arithmetic
    of Normalizer.apply, so the same numbers."""

    def __init__(self, shift, scale):
        self.shift, self.scale = shift, scale

    def to(self, device) -> "PixelDecoder":
        return PixelDecoder(self.shift.to(device), self.scale.to(device))

    def __call__(self, x):
        return (x.float() - self.shift) / self.scale


class BatchAugment:
    """Random flips, shifts (crops of the zero-padded image), rotations and zooms of a whole batch on
    its own device: one affine sampling grid per batch, no per-sample Python, no worker processes.
    Flips and whole-pixel shifts alone are exact (nearest sampling); rotation and zoom interpolate."""

    def __init__(self, flip: bool = False, crop: int = 0, rotate: float = 0.0, scale: float = 0.0):
        self.flip, self.crop, self.rotate, self.scale = flip, crop, rotate, scale

    @classmethod
    def from_config(cls, cfg) -> "BatchAugment | None":
        aug = cls(cfg.flip, cfg.crop, cfg.rotate, cfg.scale)
        return aug if (aug.flip or aug.crop or aug.rotate or aug.scale) else None

    @classmethod
    def checked(cls, cfg, task: str, kind: str, sample_ndim: int) -> "BatchAugment | None":
        """from_config, for a task on data of this kind and sample rank: a RecipeError where there is
        no image to transform (known from the raw data, so a run fails before its directory exists)."""
        from ..core.errors import RecipeError

        augment = cls.from_config(cfg)
        if augment is not None and not (task in ("classification", "regression") and kind == "image" and sample_ndim == 3):
            raise RecipeError("data.augment transforms images for classification or regression; a segmentation task "
                              "augments image and mask together (task.augment), other data has no image to transform.")
        return augment

    def __call__(self, x):
        import math

        import torch
        import torch.nn.functional as F

        n, _, h, w = x.shape  # (N, C, H, W)
        dev, one = x.device, torch.ones(n, device=x.device)
        angle = (torch.rand(n, device=dev) * 2 - 1) * math.radians(self.rotate)
        zoom = 1 + (torch.rand(n, device=dev) * 2 - 1) * self.scale
        mirror = torch.where(torch.rand(n, device=dev) < 0.5, -one, one) if self.flip else one
        shift = lambda size: torch.randint(-self.crop, self.crop + 1, (n,), device=dev) * 2.0 / size  # noqa: E731
        cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
        theta = torch.stack([torch.stack([cos * mirror, -sin, shift(w)], 1),
                             torch.stack([sin * mirror, cos, shift(h)], 1)], 1)  # (N, 2, 3): output → input coords
        grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
        mode = "bilinear" if (self.rotate or self.scale) else "nearest"
        return F.grid_sample(x, grid, mode=mode, padding_mode="zeros", align_corners=False)
