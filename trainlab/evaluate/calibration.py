"""Is a predicted probability of 0.9 right 90% of the time? Reliability diagram data, expected
calibration error, and temperature scaling fitted on the validation split (Guo et al., 2017)."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def reliability(probs: np.ndarray, y: np.ndarray, bins: int = 15) -> dict:
    """Confidence (max probability) vs accuracy in equal-width bins; ECE = Σ (n_b/N)·|acc_b − conf_b|."""
    conf, pred = probs.max(1), probs.argmax(1)
    correct = (pred == y).astype(float)
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1]), 0, bins - 1)
    rows, ece = [], 0.0
    for b in range(bins):
        m = which == b
        if m.any():
            acc, c = float(correct[m].mean()), float(conf[m].mean())
            ece += m.mean() * abs(acc - c)
            rows.append({"lo": float(edges[b]), "hi": float(edges[b + 1]), "count": int(m.sum()), "accuracy": acc,
                         "confidence": c})
    return {"bins": rows, "ece": float(ece), "mean_confidence": float(conf.mean()), "accuracy": float(correct.mean())}


def fit_temperature(logits: torch.Tensor, y: torch.Tensor) -> float:
    """The temperature T > 0 minimising the NLL of softmax(logits / T) (validation split only)."""
    log_t = torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.1, max_iter=100)
    logits, y = logits.detach().float().clone(), y.detach().clone()  # may come from inference mode

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(logits / log_t.exp(), y)
        loss.backward()
        return loss

    opt.step(closure)
    return float(log_t.detach().exp())
