"""A plain convolutional network: [Conv2d → (BatchNorm) → activation → (pool)] × n, then a dense
head; over a series, the same in one dimension, the steps' values its channels. LeCun et al.,
"Gradient-based learning applied to document recognition", 1998."""
from __future__ import annotations

from typing import Literal

from torch import nn

from ..core.errors import RecipeError
from ..core.registry import Count, Size
from ..core.spec import DataSpec
from .layers.activations import init_weights, make_activation
from .mlp import MLP
from .registry import MODELS


class ConvNet(nn.Module):
    """`in_shape` (C, H, W) images, or (F, T) for a series (`series`: its input comes as (B, T, F))."""

    def __init__(self, in_shape, channels, out_features, kernel=3, padding=1, padding_mode="zeros", pool="none",
                 batch_norm=False, activation="relu", hidden=(128,), dropout=0.0, series=False):
        super().__init__()
        self.series = series
        conv, norm, maxpool, avgpool = (nn.Conv1d, nn.BatchNorm1d, nn.MaxPool1d, nn.AvgPool1d) if series else \
            (nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d, nn.AvgPool2d)
        layers, c = [], in_shape[0]
        for width in channels:
            layers.append(conv(c, width, kernel, padding=padding, padding_mode=padding_mode))
            if batch_norm:
                layers.append(norm(width))
            layers.append(make_activation(activation))
            if pool != "none":
                layers.append(maxpool(2) if pool == "max" else avgpool(2))
            c = width
        self.features = nn.Sequential(*layers)
        sizes = list(in_shape[1:])
        for _ in channels:  # d_out = (d_in + 2p - k) / s + 1, then / 2 when pooling
            sizes = [d + 2 * padding - kernel + 1 for d in sizes]
            if pool != "none":
                sizes = [d // 2 for d in sizes]
        if min(sizes) < 1:
            raise RecipeError(f"model: the input {list(in_shape)} shrinks to nothing after {len(channels)} conv layers; "
                              "use padding, fewer layers or no pooling.")
        n = c
        for d in sizes:
            n *= d
        self.head = MLP(n, list(hidden), out_features, activation, dropout=dropout)

    def forward(self, x):  # (B, C, H, W) or a series (B, T, F) → (B, out)
        return self.head(self.features(x.transpose(1, 2) if self.series else x))


@MODELS.register("convnet")
def build_convnet(spec: DataSpec, out_features: int, *, channels: list[Count] = [32, 64], kernel: Count = 3,
                  padding: Size = 1, padding_mode: Literal["zeros", "reflect", "replicate", "circular"] = "zeros",
                  pool: Literal["none", "max", "avg"] = "none", batch_norm: bool = False, activation: str = "relu",
                  hidden: list[Count] = [128], dropout: float = 0.0, init: Literal["default", "xavier", "he"] = "default"):
    """Convolutional network: conv layers (kernel, padding, padding mode, pooling, batch norm) and a dense head;
    over the steps of a series, one-dimensional."""
    series = spec.kind == "series"
    if len(spec.input_shape) != 3 and not series:
        raise RecipeError(f"model 'convnet' needs images (C, H, W) or series (T, F); this data has samples of shape "
                          f"{list(spec.input_shape)}.")
    shape = spec.input_shape[::-1] if series else spec.input_shape  # a series' values are its channels
    model = ConvNet(shape, list(channels), out_features, kernel, padding, padding_mode, pool, batch_norm,
                    activation, hidden, dropout, series)
    init_weights(model, init)
    return model
