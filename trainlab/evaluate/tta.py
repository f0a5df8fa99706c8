"""Test-time augmentation: the model that is tested, predicts, serves and is exported is the same
one, so the accuracy the report gives is the accuracy a user of the exported model gets."""
from __future__ import annotations

from torch import nn

from ..core.errors import RecipeError


class MirrorAverage(nn.Module):
    """The mean of a classifier's outputs (logits) for each image and its left-right mirror."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        return 0.5 * (self.model(x) + self.model(x.flip(-1)))


def with_tta(model: nn.Module, tta: str) -> nn.Module:
    return MirrorAverage(model) if tta == "flip" else model


def check(tta: str, task: str, kind: str, sample_ndim: int) -> None:
    """A RecipeError, before the run directory exists, where there is no image class to average over."""
    if tta != "none" and not (task == "classification" and kind == "image" and sample_ndim == 3):
        raise RecipeError(f"eval.tta = {tta!r} averages an image classifier's outputs over mirrored images; this run "
                          f"is {task} on {kind} data. Leave eval.tta = \"none\".")
