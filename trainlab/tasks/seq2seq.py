"""Sequence to sequence: the decoder learns with teacher forcing (cross-entropy over the target
tokens, padding ignored); validation and test decode greedily, and a sequence counts as right
only when every token and the end mark are."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..core.errors import RecipeError
from ..core.spec import DataSpec
from .base import TASKS, Task

PAD = 0


class Seq2Seq(Task):
    validation_keys = {"exact": "max"}
    name = "seq2seq"
    graph_safe = True

    def __init__(self, spec: DataSpec):
        super().__init__(spec)
        if spec.target != "sequence":
            raise RecipeError("task 'seq2seq' needs target sequences (e.g. data.name = 'digit_sequences').")

    def output_size(self) -> int:
        return self.spec.vocab_size

    def target_dtype(self):
        return torch.long

    def loss(self, outputs, y):  # outputs (B, T, V), y (B, T)
        return F.cross_entropy(outputs.float().reshape(-1, outputs.shape[-1]), y.reshape(-1), ignore_index=PAD)

    def training_step(self, model, x, y):
        return self.loss(model(x, y), y)  # teacher forcing

    def _right(self, outputs, y):
        pred, mask = outputs.argmax(-1), y != PAD
        return ((pred == y) | ~mask).all(1), (pred == y)[mask]

    def quick_metrics(self, outputs, y):
        exact, _ = self._right(outputs, y)
        return {"exact": exact.float().mean()}

    def test_metrics(self, outputs, y) -> dict:
        exact, tokens = self._right(outputs, y)
        names = self.spec.class_names
        pred = outputs.argmax(-1).cpu()

        def text(ids):
            out = []
            for i in ids.tolist():
                if i == PAD or names[i] == "<eos>":
                    break
                out.append(names[i])
            return "".join(out)

        return {"loss": float(self.loss(outputs, y)), "exact_sequence_accuracy": float(exact.float().mean()),
                "token_accuracy": float(tokens.float().mean()),
                "examples": [{"target": text(t), "predicted": text(p), "right": bool(e)}
                             for t, p, e in zip(y[:12].cpu(), pred[:12], exact[:12].cpu())]}


@TASKS.register("seq2seq")
def seq2seq(spec: DataSpec, context: dict) -> Task:
    """Sequence to sequence: teacher-forced training, greedy decoding, exact-sequence and token accuracy."""
    return Seq2Seq(spec)
