"""Normalizing flows from zuko: log p(x) = log p_z(f(x)) + log|det ∂f/∂x|. Dinh et al., "Density
estimation using Real NVP", 2017; Papamakarios et al., "Masked autoregressive flow", 2017;
Durkan et al., "Neural spline flows", 2019."""
from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from ..core.errors import RecipeError
from ..core.registry import Count
from ..core.spec import DataSpec
from .registry import MODELS


class Flow(nn.Module):
    """forward(x) → log p(x) per sample (B,), in the normalised units the flow was trained on."""

    def __init__(self, flow):
        super().__init__()
        self.flow = flow

    def forward(self, x):
        return self.flow().log_prob(x.float())

    @torch.no_grad()
    def sample(self, n: int):
        return self.flow().sample((n,))


@MODELS.register("flow")
def flow(spec: DataSpec, out_features: int, *, kind: Literal["realnvp", "maf", "nsf"] = "nsf", transforms: Count = 4,
         hidden: list[Count] = [64, 64], bins: Count = 8):
    """A normalizing flow (zuko): RealNVP affine couplings, MAF, or neural rational-quadratic splines."""
    try:
        import zuko
    except ImportError:
        raise RecipeError("model 'flow' needs zuko: pip install 'trainlab[generative]'.") from None
    if spec.kind not in ("table", "points") or len(spec.input_shape) != 1:
        raise RecipeError(f"model 'flow' estimates densities of feature vectors (tables, points), not {spec.kind} "
                          f"of shape {spec.input_shape}.")
    d, hidden = spec.input_shape[0], tuple(hidden)
    if kind == "realnvp":
        if d < 2:
            raise RecipeError("RealNVP couples halves of the features and needs at least 2; use kind = 'nsf' or 'maf'.")
        f = zuko.flows.RealNVP(d, transforms=transforms, hidden_features=hidden)
    elif kind == "maf":
        f = zuko.flows.MAF(d, transforms=transforms, hidden_features=hidden)
    else:
        f = zuko.flows.NSF(d, bins=bins, transforms=transforms, hidden_features=hidden)
    return Flow(f)
