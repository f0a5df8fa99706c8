"""Encoder-decoder transformer with a causal mask on the decoder, greedy decoding at inference.
Vaswani et al., "Attention is all you need", 2017."""
from __future__ import annotations

import math

import torch
from torch import nn

from ..core.errors import RecipeError
from ..core.registry import Count
from ..core.spec import DataSpec
from .registry import MODELS
from .transformer import sinusoidal

BOS = 1


class Seq2SeqTransformer(nn.Module):
    def __init__(self, vocab: int, src_len: int, tgt_len: int, dim: int, depth: int, heads: int, ff: int, dropout: float):
        super().__init__()
        self.tgt_len = tgt_len
        self.embed = nn.Embedding(vocab, dim, padding_idx=0)
        self.register_buffer("pos", sinusoidal(max(src_len, tgt_len) + 1, dim), persistent=False)
        enc = nn.TransformerEncoderLayer(dim, heads, ff, dropout, batch_first=True, norm_first=True)
        dec = nn.TransformerDecoderLayer(dim, heads, ff, dropout, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(enc, depth, norm=nn.LayerNorm(dim), enable_nested_tensor=False)
        self.decoder = nn.TransformerDecoder(dec, depth, norm=nn.LayerNorm(dim))
        self.out = nn.Linear(dim, vocab)
        self.scale = math.sqrt(dim)

    def _embed(self, ids):
        return self.embed(ids) * self.scale + self.pos[: ids.shape[1]]

    def _decode(self, memory, src_pad, tgt_in):
        t = tgt_in.shape[1]
        causal = torch.triu(torch.full((t, t), float("-inf"), device=tgt_in.device), 1)  # no peeking ahead
        h = self.decoder(self._embed(tgt_in), memory, tgt_mask=causal, memory_key_padding_mask=src_pad)
        return self.out(h)  # (B, t, V)

    def forward(self, src, tgt=None):  # src (B, S) ids; tgt (B, T) ids or None for greedy decoding
        src_pad = src == 0
        memory = self.encoder(self._embed(src), src_key_padding_mask=src_pad)
        start = torch.full((len(src), 1), BOS, dtype=torch.long, device=src.device)
        if tgt is not None:  # teacher forcing: the decoder reads <bos> + the target shifted right
            return self._decode(memory, src_pad, torch.cat([start, tgt[:, :-1]], 1))
        seq, steps = start, []
        for _ in range(self.tgt_len):  # greedy: feed back the most likely token
            logits = self._decode(memory, src_pad, seq)[:, -1]
            steps.append(logits)
            seq = torch.cat([seq, logits.argmax(-1, keepdim=True)], 1)
        return torch.stack(steps, 1)  # (B, T, V)


@MODELS.register("seq2seq_transformer")
def build_seq2seq(spec: DataSpec, out_features: int, *, dim: Count = 64, depth: Count = 2, heads: Count = 4, ff: Count = 128,
                  dropout: float = 0.1) -> nn.Module:
    """Encoder-decoder transformer (causal decoder mask) for sequence-to-sequence tasks, greedy decoding."""
    if spec.target != "sequence":
        raise RecipeError("model 'seq2seq_transformer' needs a sequence-to-sequence dataset (e.g. digit_sequences).")
    if dim % heads:
        raise RecipeError(f"model.dim = {dim} must be a multiple of model.heads = {heads}.")
    return Seq2SeqTransformer(spec.vocab_size, spec.input_shape[0], spec.num_targets, dim, depth, heads, ff, dropout)
