"""Recurrent classifiers and regressors: of texts, embedding → RNN, LSTM or GRU over the packed
variable-length sequence → the last hidden state → linear; of series (N, T, F: sensor readings, a
signal), the same over the T steps of F values. Hochreiter & Schmidhuber, "Long short-term memory",
1997; Cho et al., "Learning phrase representations using RNN encoder-decoder", 2014."""
from __future__ import annotations

from typing import Literal

import torch
from torch import nn
from torch.func import functional_call
from torch.nn.utils.rnn import pack_padded_sequence

from ..core.errors import RecipeError
from ..core.registry import Count
from ..core.spec import DataSpec
from .registry import MODELS

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class RecurrentClassifier(nn.Module):
    """Texts (`vocab` > 0: token ids, 0 the padding, embedded in `embed` values) or series (`features` > 0:
    T steps of F values; `padded`: shorter series end in steps that are NaN throughout) → the RNN over
    each one's own steps → the last step's hidden state (both directions' ends when bidirectional) →
    linear. Texts are packed; series take the unpacked form, the same function with no host sync."""

    def __init__(self, vocab: int, out_features: int, cell: str, embed: int, hidden: int, layers: int,
                 bidirectional: bool, dropout: float, features: int = 0, padded: bool = True):
        super().__init__()
        self.embed = None if features else nn.Embedding(vocab, embed, padding_idx=0)
        self.padded = padded
        self.rnn = CELLS[cell](features or embed, hidden, layers, batch_first=True, bidirectional=bidirectional,
                               dropout=dropout if layers > 1 else 0.0)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden * (2 if bidirectional else 1), out_features)

    def _inputs(self, x) -> tuple[torch.Tensor, torch.Tensor]:
        """(each step's input (B, T, I), each one's length (B,))."""
        if self.embed is not None:
            return self.embed(x), (x != 0).sum(1).clamp(min=1)
        pad = torch.isnan(x).all(-1)
        return torch.where(torch.isnan(x), torch.zeros_like(x), x), (~pad).sum(1).clamp(min=1)

    def forward(self, x):  # (B, T) token ids, 0 = padding; or series (B, T, F)
        if self.embed is None and not self.padded:  # series of one length: every step is read
            out, _ = self.rnn(x)  # (B, T, hidden · directions)
            h = self.rnn.hidden_size
            return self.head(self.drop(torch.cat([out[:, -1, :h], out[:, 0, h:]], 1) if self.rnn.bidirectional
                                       else out[:, -1]))
        if _onnx_export() or self.embed is None:  # (series: no host sync for the lengths, and on a CPU 4x faster)
            return self._unpacked(x)
        v, lengths = self._inputs(x)
        packed = pack_padded_sequence(v, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, h = self.rnn(packed)
        h = h[0] if isinstance(h, tuple) else h  # LSTM returns (h, c); h: (layers · directions, B, hidden)
        last = torch.cat([h[-2], h[-1]], 1) if self.rnn.bidirectional else h[-1]  # (B, hidden · directions)
        return self.head(self.drop(last))

    def _unpacked(self, ids):
        """The same function without packed sequences, which ONNX cannot hold. A one-way RNN's state at
        a text's last token does not depend on the padding after it, so read every layer's output there.
        Bidirectional: the backward direction reads each text reversed within its own length, layer by
        layer, so it too starts at the text's last token and never sees padding."""
        x, lengths = self._inputs(ids)
        if not self.rnn.bidirectional:
            out, _ = self.rnn(x)  # (B, T, hidden)
            return self.head(self.drop(_at(out, lengths - 1)))
        pos = torch.arange(ids.shape[1], device=ids.device).unsqueeze(0)
        rev = torch.where(pos < lengths.unsqueeze(1), lengths.unsqueeze(1) - 1 - pos, pos)  # its own inverse
        flip = lambda v: v.gather(1, rev.unsqueeze(-1).expand(-1, -1, v.shape[2]))  # noqa: E731
        for layer in range(self.rnn.num_layers):
            directions, cell = [], self._one_way(layer)
            for suffix in ("", "_reverse"):
                weights = {f"{n}_l0": getattr(self.rnn, f"{n}_l{layer}{suffix}") for n in _WEIGHTS}
                out, _ = functional_call(cell, weights, (flip(x) if suffix else x,))
                directions.append(flip(out) if suffix else out)
            x = torch.cat(directions, 2)
        h = self.rnn.hidden_size
        return self.head(self.drop(torch.cat([_at(x[:, :, :h], lengths - 1), x[:, 0, h:]], 1)))

    def _one_way(self, layer: int) -> nn.Module:
        """A one-layer, one-way module of this RNN's kind for `layer`; functional_call gives it the RNN's own
        weights (made at export only, so it is never part of the model)."""
        r = self.rnn
        extra = {"nonlinearity": r.nonlinearity} if isinstance(r, nn.RNN) else {}
        return type(r)(r.input_size if layer == 0 else 2 * r.hidden_size, r.hidden_size, 1, batch_first=True, **extra)


_WEIGHTS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def _at(out, index):
    """out[b, index[b]] for each b: (B, T, H) → (B, H)."""
    return out.gather(1, index.view(-1, 1, 1).expand(-1, 1, out.shape[2])).squeeze(1)


def _onnx_export() -> bool:
    is_exporting = getattr(torch.compiler, "is_exporting", lambda: False)  # the dynamo exporter
    return torch.onnx.is_in_onnx_export() or is_exporting()


@MODELS.register("rnn")
def build_rnn(spec: DataSpec, out_features: int, *, cell: Literal["rnn", "lstm", "gru"] = "gru", embed: Count = 64,
              hidden: Count = 128, layers: Count = 1, bidirectional: bool = False, dropout: float = 0.0) -> nn.Module:
    """RNN / LSTM / GRU over texts (packed variable-length token sequences, embedded in `embed` values) or
    series (T steps of F values, each step's values the input)."""
    if spec.kind == "series":
        return RecurrentClassifier(0, out_features, cell, embed, hidden, layers, bidirectional, dropout,
                                   features=spec.input_shape[-1], padded=spec.padded)
    if spec.kind != "text":
        raise RecipeError(f"model 'rnn' reads token sequences and series; this data is {spec.kind!r}. Use a text "
                          "dataset, or arrays with data.kind = \"series\".")
    return RecurrentClassifier(spec.vocab_size, out_features, cell, embed, hidden, layers, bidirectional, dropout)
