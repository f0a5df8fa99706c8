"""An exponential moving average of the weights (train.ema): after each optimiser step the average
moves a (1 − decay) share of the way to the live weights. It is what is validated, kept as the best
model, tested, predicted with and exported; the optimiser steps the live weights. The decay warms up,
min(decay, (1 + step) / (10 + step)), so that the first steps do not drag the random initialisation
along for thousands of steps."""
from __future__ import annotations

import copy

import torch


class WeightAverage:
    def __init__(self, module: torch.nn.Module, decay: float):
        self.decay, self.live = decay, module
        self.module = copy.deepcopy(module)
        for p in self.module.parameters():
            p.requires_grad_(False)
        self._pairs = [(a, b) for a, b in zip(self.module.parameters(), module.parameters()) if a.is_floating_point()]
        self._buffers = list(zip(self.module.buffers(), module.buffers()))

    @torch.no_grad()
    def update(self, step: int) -> None:
        """After optimiser step `step` (1, 2, ...): average ← average + (1 − d)·(live − average)."""
        d = min(self.decay, (1 + step) / (10 + step))
        torch._foreach_lerp_([a for a, _ in self._pairs], [b.detach() for _, b in self._pairs], 1 - d)
        for a, b in self._buffers:  # batch-norm statistics and counters: the live model's
            a.copy_(b)
