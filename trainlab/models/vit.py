"""Vision Transformer: image → patches → transformer encoder → classifier.
Dosovitskiy et al., "An image is worth 16x16 words", 2021."""
from __future__ import annotations

import torch
from torch import nn

from ..core.errors import RecipeError
from ..core.registry import Count, Positive
from ..core.spec import DataSpec
from .registry import MODELS


class ViT(nn.Module):
    def __init__(self, in_shape, out_features: int, patch: int, dim: int, depth: int, heads: int, mlp_ratio: float,
                 dropout: float):
        super().__init__()
        c, h, w = in_shape
        self.patch_embed = nn.Conv2d(c, dim, patch, patch)  # each patch → one token of size dim
        n = (h // patch) * (w // patch)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.randn(1, n + 1, dim) * 0.02)
        layer = nn.TransformerEncoderLayer(dim, heads, int(dim * mlp_ratio), dropout, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, out_features)

    def forward(self, x):
        t = self.patch_embed(x).flatten(2).transpose(1, 2)  # (B, dim, H/p, W/p) → (B, N, dim)
        t = torch.cat([self.cls.expand(t.shape[0], -1, -1), t], 1) + self.pos  # (B, N + 1, dim); shape[0]: traced
        return self.head(self.norm(self.encoder(t)[:, 0]))  # the class token → (B, out)


@MODELS.register("vit")
def build_vit(spec: DataSpec, out_features: int, *, patch: Count = 7, dim: Count = 64, depth: Count = 4, heads: Count = 4,
              mlp_ratio: Positive = 2.0, dropout: float = 0.1) -> nn.Module:
    """Vision Transformer: patch size, depth, heads, MLP ratio; a class token and learned positions."""
    if len(spec.input_shape) != 3:
        raise RecipeError(f"model 'vit' needs images (C, H, W); this data has samples of shape {list(spec.input_shape)}.")
    _, h, w = spec.input_shape
    if h % patch or w % patch:
        raise RecipeError(f"model.patch = {patch} does not divide the {h}×{w} images; choose a divisor (e.g. 7 or 4 for 28×28).")
    if dim % heads:
        raise RecipeError(f"model.dim = {dim} must be a multiple of model.heads = {heads}.")
    return ViT(spec.input_shape, out_features, patch, dim, depth, heads, mlp_ratio, dropout)
