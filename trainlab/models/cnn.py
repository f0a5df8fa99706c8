"""A plain convolutional network: [Conv2d → (BatchNorm) → activation → (pool)] × n, then a dense
head. LeCun et al., "Gradient-based learning applied to document recognition", 1998."""
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
    def __init__(self, in_shape, channels, out_features, kernel=3, padding=1, padding_mode="zeros", pool="none",
                 batch_norm=False, activation="relu", hidden=(128,), dropout=0.0):
        super().__init__()
        layers, c = [], in_shape[0]
        for width in channels:
            layers.append(nn.Conv2d(c, width, kernel, padding=padding, padding_mode=padding_mode))
            if batch_norm:
                layers.append(nn.BatchNorm2d(width))
            layers.append(make_activation(activation))
            if pool != "none":
                layers.append(nn.MaxPool2d(2) if pool == "max" else nn.AvgPool2d(2))
            c = width
        self.features = nn.Sequential(*layers)
        h, w = in_shape[1:]
        for _ in channels:  # d_out = (d_in + 2p - k) / s + 1, then / 2 when pooling
            h, w = h + 2 * padding - kernel + 1, w + 2 * padding - kernel + 1
            if pool != "none":
                h, w = h // 2, w // 2
        if h < 1 or w < 1:
            raise RecipeError(f"model: the input {list(in_shape)} shrinks to nothing after {len(channels)} conv layers; "
                              "use padding, fewer layers or no pooling.")
        self.head = MLP(c * h * w, list(hidden), out_features, activation, dropout=dropout)

    def forward(self, x):  # (B, C, H, W) → (B, out)
        return self.head(self.features(x))


@MODELS.register("convnet")
def build_convnet(spec: DataSpec, out_features: int, *, channels: list[Count] = [32, 64], kernel: Count = 3,
                  padding: Size = 1, padding_mode: Literal["zeros", "reflect", "replicate", "circular"] = "zeros",
                  pool: Literal["none", "max", "avg"] = "none", batch_norm: bool = False, activation: str = "relu",
                  hidden: list[Count] = [128], dropout: float = 0.0, init: Literal["default", "xavier", "he"] = "default"):
    """Convolutional network: conv layers (kernel, padding, padding mode, pooling, batch norm) and a dense head."""
    if len(spec.input_shape) != 3:
        raise RecipeError(f"model 'convnet' needs images (C, H, W); this data has samples of shape {list(spec.input_shape)}.")
    model = ConvNet(spec.input_shape, list(channels), out_features, kernel, padding, padding_mode, pool, batch_norm,
                    activation, hidden, dropout)
    init_weights(model, init)
    return model
