"""The activations of SPEC §2, by name. Heaviside is the 1957 perceptron's step: it has no
gradient, so it serves predictions, never training."""
from __future__ import annotations

from torch import nn

from ...core.errors import RecipeError
from ...core.registry import closest


class Heaviside(nn.Module):
    def forward(self, x):
        return (x > 0).to(x.dtype)


class Linear(nn.Identity):
    pass


_ACTIVATIONS = {
    "linear": lambda a: Linear(),
    "sigmoid": lambda a: nn.Sigmoid(),
    "tanh": lambda a: nn.Tanh(),
    "relu": lambda a: nn.ReLU(),
    "leaky_relu": lambda a: nn.LeakyReLU(a if a is not None else 0.01),
    "elu": lambda a: nn.ELU(a if a is not None else 1.0),
    "swish": lambda a: nn.SiLU(),
    "silu": lambda a: nn.SiLU(),
    "gelu": lambda a: nn.GELU(),
    "softplus": lambda a: nn.Softplus(),
    "softmax": lambda a: nn.Softmax(dim=-1),
    "heaviside": lambda a: Heaviside(),
}
ACTIVATION_NAMES = tuple(_ACTIVATIONS)


def make_activation(name: str, alpha: float | None = None) -> nn.Module:
    if name not in _ACTIVATIONS:
        hint = closest(name, _ACTIVATIONS)
        raise RecipeError(f"Unknown activation {name!r}." + (f" Did you mean {hint!r}?" if hint else "")
                          + f" Valid activations: {', '.join(_ACTIVATIONS)}.")
    return _ACTIVATIONS[name](alpha)


def init_weights(module: nn.Module, scheme: str, std: float = 0.01) -> None:
    """xavier: N(0, 2/(n_in+n_out)); he: N(0, 2/n_in); gaussian: N(0, std²); default: PyTorch's."""
    if scheme == "default":
        return
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d)):
            if scheme == "xavier":
                nn.init.xavier_normal_(m.weight)
            elif scheme == "he":
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            elif scheme == "gaussian":
                nn.init.normal_(m.weight, 0.0, std)
            else:
                raise RecipeError(f"Unknown init {scheme!r}; valid: default, xavier, he, gaussian.")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
