"""The learning-rate range test (Smith, "Cyclical learning rates for training neural networks",
2017; fastai's lr_find): train from the recipe's initial weights while the learning rate grows
exponentially each step, and watch the training loss. It falls fastest a little below the rate at
which training starts to diverge; that rate is the suggestion. Only training batches are used."""
from __future__ import annotations

import math

import numpy as np
import torch

SMOOTHING = 0.98   # running average of the loss (bias-corrected), as in fastai: it decides when to stop
DIVERGED = 4.0     # stop once the running average is this many times its minimum


def lr_range_test(model, task, optimizer, x, y, *, batch_size: int, start: float, end: float, steps: int,
                  seed: int, autocast) -> dict:
    """Train `steps` steps with the learning rate going from `start` to `end` geometrically; the
    rates, raw and smoothed losses, and the suggestions: the rate of steepest descent of the
    smoothed loss, and a tenth of the rate at its minimum."""
    gen = torch.Generator().manual_seed(seed)
    order = torch.cat([torch.randperm(len(x), generator=gen) for _ in range(-(-steps * batch_size // len(x)))])
    lrs = start * (end / start) ** (np.arange(steps) / max(1, steps - 1))
    raw, avg, best = [], 0.0, math.inf
    model.train()
    for i, lr in enumerate(lrs):
        for g in optimizer.param_groups:
            g["lr"] = float(lr)
        idx = order[i * batch_size:(i + 1) * batch_size].to(x.device)
        with autocast():
            loss = task.training_step(model, x.index_select(0, idx), y.index_select(0, idx))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        value = float(loss.detach())  # one host read a step: this is a measurement, not training
        if not math.isfinite(value):
            break
        raw.append(value)
        avg = SMOOTHING * avg + (1 - SMOOTHING) * value
        running = avg / (1 - SMOOTHING ** (i + 1))
        best = min(best, running)
        if running > DIVERGED * best and i > 10:
            break
    lrs = lrs[:len(raw)].tolist()
    smooth = centred(raw, max(5, steps // 12 | 1))
    return {"lr": lrs, "loss": raw, "smoothed": smooth, **suggestions(lrs, smooth)}


def centred(values: list[float], window: int) -> list[float]:
    """A centred moving average: unlike the running average that decides when to stop, it does not
    lag behind the rate (a lag of a decade would move the suggestions up as much)."""
    if len(values) < window:
        return list(values)
    padded = np.pad(np.asarray(values, float), window // 2, mode="edge")
    return np.convolve(padded, np.ones(window) / window, mode="valid").tolist()


def suggestions(lrs: list[float], smooth: list[float]) -> dict:
    """The steepest descent of the smoothed loss against log10(lr), left of its minimum, and a
    tenth of the rate at its minimum; None where the curve is too short to tell."""
    if len(smooth) < 5:
        return {"steepest": None, "minimum": None, "minimum_over_10": None}
    lo = int(np.argmin(smooth))
    slope = np.gradient(np.asarray(smooth), np.log10(lrs))
    steep = int(np.argmin(slope[:max(lo, 1)]))  # where it falls fastest, before the minimum
    return {"steepest": lrs[steep], "minimum": lrs[lo], "minimum_over_10": lrs[lo] / 10}
