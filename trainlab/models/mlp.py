"""Multi-layer perceptron and Rosenblatt's single-layer perceptron.
Rosenblatt, "The perceptron: a probabilistic model for information storage", 1958."""
from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from ..core.errors import RecipeError
from ..core.registry import Count, Positive
from ..core.spec import DataSpec
from .layers.activations import Heaviside, init_weights, make_activation
from .registry import MODELS

Init = Literal["default", "xavier", "he", "gaussian"]


class MLP(nn.Module):
    """Flatten → [Linear → (BatchNorm) → activation → (Dropout)] × len(hidden) → Linear."""

    def __init__(self, in_features: int, hidden: list[int], out_features: int, activation: str = "relu",
                 alpha: float | None = None, dropout: float = 0.0, batch_norm: bool = False):
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
        for h in hidden:
            layers.append(nn.Linear(width, h))
            if batch_norm:
                layers.append(nn.BatchNorm1d(h))
            layers.append(make_activation(activation, alpha))
            if dropout:
                layers.append(nn.Dropout(dropout))
            width = h
        layers.append(nn.Linear(width, out_features))
        self.net = nn.Sequential(*layers)

    def forward(self, x):  # (B, ...) → (B, out)
        return self.net(x)


class Perceptron(nn.Module):
    """One linear unit per output; `decide` applies the Heaviside step, as in 1957."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)
        self.step = Heaviside()

    def forward(self, x):  # (B, ...) → (B, out) scores
        return self.linear(x.flatten(1))

    @torch.no_grad()
    def decide(self, x):
        return self.step(self.forward(x))


@MODELS.register("mlp")
def build_mlp(spec: DataSpec, out_features: int, *, hidden: list[Count] = [64, 32], activation: str = "relu",
              alpha: float | None = None, dropout: float = 0.0, batch_norm: bool = False,
              init: Init = "default", init_std: Positive = 0.01) -> nn.Module:
    """Dense network: widths, any activation, dropout, batch norm, Xavier/He/Gaussian init."""
    if activation == "heaviside" and hidden:
        raise RecipeError("model.activation = 'heaviside' has no gradient, so hidden layers cannot learn. "
                          "Use model.name = 'perceptron' for the step unit, or a differentiable activation.")
    if not 0 <= dropout < 1:
        raise RecipeError(f"model.dropout must be in [0, 1); received {dropout}.")
    model = MLP(spec.num_features, list(hidden), out_features, activation, alpha, dropout, batch_norm)
    init_weights(model, init, init_std)
    return model


@MODELS.register("perceptron")
def build_perceptron(spec: DataSpec, out_features: int, *, init: Init = "default", init_std: Positive = 0.01) -> nn.Module:
    """Single-layer perceptron: a linear score and a Heaviside decision."""
    model = Perceptron(spec.num_features, out_features)
    init_weights(model, init, init_std)
    return model
