"""Recurrent text classifiers: embedding → RNN, LSTM or GRU over the packed variable-length
sequence → the last hidden state → linear. Hochreiter & Schmidhuber, "Long short-term memory",
1997; Cho et al., "Learning phrase representations using RNN encoder-decoder", 2014."""
from __future__ import annotations

from typing import Literal

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from ..core.errors import RecipeError
from ..core.spec import DataSpec
from .registry import MODELS

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class RecurrentClassifier(nn.Module):
    def __init__(self, vocab: int, out_features: int, cell: str, embed: int, hidden: int, layers: int,
                 bidirectional: bool, dropout: float):
        super().__init__()
        self.embed = nn.Embedding(vocab, embed, padding_idx=0)
        self.rnn = CELLS[cell](embed, hidden, layers, batch_first=True, bidirectional=bidirectional,
                               dropout=dropout if layers > 1 else 0.0)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden * (2 if bidirectional else 1), out_features)

    def forward(self, ids):  # (B, T) token ids, 0 = padding
        if not self.rnn.bidirectional and _onnx_export():
            return self._unpacked(ids)
        lengths = (ids != 0).sum(1).clamp(min=1).cpu()
        packed = pack_padded_sequence(self.embed(ids), lengths, batch_first=True, enforce_sorted=False)
        _, h = self.rnn(packed)
        h = h[0] if isinstance(h, tuple) else h  # LSTM returns (h, c); h: (layers · directions, B, hidden)
        last = torch.cat([h[-2], h[-1]], 1) if self.rnn.bidirectional else h[-1]  # (B, hidden · directions)
        return self.head(self.drop(last))

    def _unpacked(self, ids):
        """The same function without packed sequences, which ONNX cannot hold: a one-way RNN's state at
        a text's last token does not depend on the padding after it, so read every layer's output there."""
        last = (ids != 0).sum(1).clamp(min=1) - 1  # padding only follows the text
        out, _ = self.rnn(self.embed(ids))  # (B, T, hidden)
        return self.head(self.drop(out.gather(1, last.view(-1, 1, 1).expand(-1, 1, out.shape[2])).squeeze(1)))


def _onnx_export() -> bool:
    is_exporting = getattr(torch.compiler, "is_exporting", lambda: False)  # the dynamo exporter
    return torch.onnx.is_in_onnx_export() or is_exporting()


@MODELS.register("rnn")
def build_rnn(spec: DataSpec, out_features: int, *, cell: Literal["rnn", "lstm", "gru"] = "gru", embed: int = 64,
              hidden: int = 128, layers: int = 1, bidirectional: bool = False, dropout: float = 0.0) -> nn.Module:
    """RNN / LSTM / GRU text classifier over packed variable-length sequences."""
    if spec.kind != "text":
        raise RecipeError(f"model 'rnn' reads token sequences; this data is {spec.kind!r}. Use a text dataset.")
    return RecurrentClassifier(spec.vocab_size, out_features, cell, embed, hidden, layers, bidirectional, dropout)
