"""The three models of the course's TP2 (CIFAR-10), exactly as the slides give them.
Model 2 follows LeCun et al., "Gradient-based learning applied to document recognition", 1998."""
from __future__ import annotations

from torch import nn

from ..core.errors import RecipeError
from ..core.spec import DataSpec
from .registry import MODELS


def _need(spec: DataSpec, shape: tuple[int, ...], name: str) -> None:
    if tuple(spec.input_shape) != shape:
        raise RecipeError(f"model {name!r} is the course's CIFAR-10 network and takes {list(shape)} inputs; this data has "
                          f"{list(spec.input_shape)}. For Fashion-MNIST set data.size = 32 and data.channels = 3.")


@MODELS.register("tp2_model1")
def tp2_model1(spec: DataSpec, out_features: int) -> nn.Module:
    """TP2 Model 1: fully connected 3072→1024→256→64→10, ReLU (3.4M parameters)."""
    _need(spec, (3, 32, 32), "tp2_model1")
    return nn.Sequential(nn.Flatten(), nn.Linear(3072, 1024), nn.ReLU(), nn.Linear(1024, 256), nn.ReLU(),
                         nn.Linear(256, 64), nn.ReLU(), nn.Linear(64, out_features))


@MODELS.register("tp2_model2")
def tp2_model2(spec: DataSpec, out_features: int) -> nn.Module:
    """TP2 Model 2 (LeNet-like): conv 3→6 5×5, pool, conv 6→16 5×5, pool, 400→120→84→10 (62k parameters)."""
    _need(spec, (3, 32, 32), "tp2_model2")
    return nn.Sequential(
        nn.Conv2d(3, 6, 5), nn.ReLU(), nn.MaxPool2d(2),    # (B, 6, 28, 28) → (B, 6, 14, 14)
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),   # (B, 16, 10, 10) → (B, 16, 5, 5)
        nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, out_features))


@MODELS.register("tp2_model3")
def tp2_model3(spec: DataSpec, out_features: int, *, batch_norm: bool = True, dropout: float = 0.05) -> nn.Module:
    """TP2 Model 3: six 3×3 convs 32/64/128/128/256/256, BatchNorm after the 1st/3rd/5th, max-pool after each pair,
    dropout 0.05, 4096→1024→512→10 (5.85M parameters); batch_norm and dropout can be switched off."""
    _need(spec, (3, 32, 32), "tp2_model3")
    layers, c = [], 3
    for i, width in enumerate((32, 64, 128, 128, 256, 256)):
        layers.append(nn.Conv2d(c, width, 3, padding=1))
        if batch_norm and i % 2 == 0:
            layers.append(nn.BatchNorm2d(width))
        layers.append(nn.ReLU())
        if i % 2 == 1:
            layers.append(nn.MaxPool2d(2))  # 32 → 16 → 8 → 4
        c = width
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers += [nn.Flatten(), nn.Linear(4096, 1024), nn.ReLU(), nn.Linear(1024, 512), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(512, out_features))
    return nn.Sequential(*layers)
