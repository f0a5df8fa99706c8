"""U-Net: a contracting path of double 3×3 convolutions and max-pooling, an expanding path of
up-sampling and double convolutions, with skip connections that concatenate same-resolution
features. Ronneberger et al., "U-Net: convolutional networks for biomedical image segmentation", 2015."""
from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..core.errors import RecipeError
from ..core.registry import Count
from ..core.spec import DataSpec
from .registry import MODELS


def double_conv(c_in: int, c_out: int, batch_norm: bool, dropout: float) -> nn.Sequential:
    layers = []
    for c in (c_in, c_out):
        layers += [nn.Conv2d(c, c_out, 3, padding=1, bias=not batch_norm)]
        layers += [nn.BatchNorm2d(c_out)] if batch_norm else []
        layers += [nn.ReLU(inplace=True)]
    if dropout:
        layers.append(nn.Dropout2d(dropout))
    return nn.Sequential(*layers)


class Up(nn.Module):
    def __init__(self, c_in: int, c_out: int, mode: str, batch_norm: bool, dropout: float):
        super().__init__()
        self.up = nn.ConvTranspose2d(c_in, c_out, 2, stride=2) if mode == "transpose" else \
            nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False), nn.Conv2d(c_in, c_out, 1))
        self.conv = double_conv(2 * c_out, c_out, batch_norm, dropout)

    def forward(self, x, skip):
        return self.conv(torch.cat([self.up(x), skip], 1))  # (B, 2·c_out, H, W)


class UNet(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, depth: int, width: int, batch_norm: bool, dropout: float,
                 up: str):
        super().__init__()
        widths = [width * 2 ** i for i in range(depth + 1)]
        self.down = nn.ModuleList([double_conv(in_channels, widths[0], batch_norm, 0.0)] +
                                  [double_conv(widths[i], widths[i + 1], batch_norm, dropout if i == depth - 1 else 0.0)
                                   for i in range(depth)])
        self.up = nn.ModuleList([Up(widths[i + 1], widths[i], up, batch_norm, 0.0) for i in reversed(range(depth))])
        self.head = nn.Conv2d(widths[0], out_channels, 1)
        self.multiple = 2 ** depth

    def forward(self, x):
        h, w = x.shape[-2:]
        ph, pw = -h % self.multiple, -w % self.multiple  # any size: reflect-pad to a multiple of 2^depth
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="reflect" if min(h, w) > max(ph, pw) else "replicate")
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        x = skips.pop()
        for block in self.up:
            x = block(x, skips.pop())
        return self.head(x)[..., :h, :w]  # (B, out, H, W) logits


@MODELS.register("unet")
def unet(spec: DataSpec, out_features: int, *, depth: Count = 3, width: Count = 16, batch_norm: bool = True,
         dropout: float = 0.0, up: Literal["transpose", "bilinear"] = "transpose"):
    """U-Net with skip connections; depth down-samplings, `width` channels at full resolution (doubling per level)."""
    if spec.kind != "image" or len(spec.input_shape) != 3:
        raise RecipeError(f"model 'unet' segments images (C, H, W); this data is {spec.kind} of shape {spec.input_shape}.")
    if depth < 1:
        raise RecipeError(f"model.depth = {depth}: a U-Net needs at least one down-sampling.")
    return UNet(spec.input_shape[0], out_features, depth, width, batch_norm, dropout, up)
