"""Transformer encoder text classifier: token embedding + sinusoidal positions, multi-head
self-attention Softmax(QKᵀ/√d_k)V with the padding masked, mean pooling over real tokens.
Vaswani et al., "Attention is all you need", 2017."""
from __future__ import annotations

import math

import torch
from torch import nn

from ..core.errors import RecipeError
from ..core.registry import Count
from ..core.spec import DataSpec
from .registry import MODELS


def sinusoidal(length: int, dim: int) -> torch.Tensor:
    pos = torch.arange(length)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2) * (-math.log(10000.0) / dim))
    pe = torch.zeros(length, dim)
    pe[:, 0::2], pe[:, 1::2] = torch.sin(pos * freq), torch.cos(pos * freq)
    return pe  # (T, dim)


class TransformerClassifier(nn.Module):
    def __init__(self, vocab: int, max_len: int, out_features: int, dim: int, depth: int, heads: int, ff: int,
                 dropout: float, features: int = 0):
        super().__init__()
        # texts: token ids embedded; a series (features > 0): each step's values projected
        self.embed = nn.Linear(features, dim) if features else nn.Embedding(vocab, dim, padding_idx=0)
        self.register_buffer("pos", sinusoidal(max_len, dim), persistent=False)
        layer = nn.TransformerEncoderLayer(dim, heads, ff, dropout, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.head = nn.Linear(dim, out_features)
        self.scale = math.sqrt(dim)

    def forward(self, ids):  # (B, T) token ids, 0 = padding; or a series (B, T, F), padded with NaN steps
        if ids.ndim == 2:
            pad = ids == 0
        else:
            pad = torch.isnan(ids).all(-1)
            ids = torch.where(torch.isnan(ids), torch.zeros_like(ids), ids)
        x = self.embed(ids) * self.scale + self.pos[: ids.shape[1]]  # (B, T, dim)
        x = self.encoder(x, src_key_padding_mask=pad)
        keep = (~pad).unsqueeze(-1).float()
        return self.head((x * keep).sum(1) / keep.sum(1).clamp(min=1))  # mean over real tokens → (B, out)


@MODELS.register("transformer")
def build_transformer(spec: DataSpec, out_features: int, *, dim: Count = 64, depth: Count = 2, heads: Count = 4,
                      ff: Count = 128, dropout: float = 0.1) -> nn.Module:
    """Transformer encoder classifier: multi-head self-attention, positional encoding, padding mask; over
    texts (token ids) or series (each step's values projected to `dim`)."""
    if spec.kind not in ("text", "series"):
        raise RecipeError(f"model 'transformer' reads token sequences and series; this data is {spec.kind!r}. Use a "
                          "text dataset, or arrays with data.kind = \"series\".")
    if dim % heads:
        raise RecipeError(f"model.dim = {dim} must be a multiple of model.heads = {heads}.")
    return TransformerClassifier(spec.vocab_size, spec.input_shape[0], out_features, dim, depth, heads, ff, dropout,
                                 features=spec.input_shape[-1] if spec.kind == "series" else 0)
