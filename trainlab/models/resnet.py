"""ResNet with basic blocks. He et al., "Deep residual learning for image recognition", 2016."""
from __future__ import annotations

from torch import nn

from ..core.errors import RecipeError
from ..core.registry import Count
from ..core.spec import DataSpec
from .registry import MODELS


class BasicBlock(nn.Module):
    """x → conv-BN-ReLU-conv-BN, plus x (projected when the shape changes), → ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out))
        self.skip = nn.Identity() if stride == 1 and c_in == c_out else nn.Sequential(
            nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.act(self.body(x) + self.skip(x))


class ResNet(nn.Module):
    def __init__(self, in_channels: int, out_features: int, widths, blocks, dropout: float):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]),
                                  nn.ReLU(inplace=True))
        stages, c = [], widths[0]
        for i, (w, n) in enumerate(zip(widths, blocks)):
            for j in range(n):
                stages.append(BasicBlock(c, w, 2 if (j == 0 and i > 0) else 1))  # halve the map at each new stage
                c = w
        self.stages = nn.Sequential(*stages)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(c, out_features))

    def forward(self, x):  # (B, C, H, W) → (B, out)
        return self.head(self.stages(self.stem(x)))


@MODELS.register("resnet")
def build_resnet(spec: DataSpec, out_features: int, *, widths: list[Count] = [32, 64, 128], blocks: list[Count] = [2, 2, 2],
                 dropout: float = 0.0) -> nn.Module:
    """ResNet with basic residual blocks: a width and a block count per stage, global average pooling."""
    if len(spec.input_shape) != 3:
        raise RecipeError(f"model 'resnet' needs images (C, H, W); this data has samples of shape {list(spec.input_shape)}.")
    if len(widths) != len(blocks) or not widths:
        raise RecipeError(f"model.widths and model.blocks must have the same length; received {widths} and {blocks}.")
    return ResNet(spec.input_shape[0], out_features, list(widths), list(blocks), dropout)
