"""Generative adversarial networks: a generator G(z) and a discriminator D(x) giving a logit, dense
or DCGAN-style. Goodfellow et al., "Generative adversarial nets", 2014; Radford et al.,
"Unsupervised representation learning with deep convolutional GANs", 2016."""
from __future__ import annotations

from typing import Literal

from torch import nn

from ..core.errors import RecipeError
from ..core.registry import Count
from ..core.spec import DataSpec
from .registry import MODELS


def _dense(spec: DataSpec, noise: int, hidden: list[int]):
    g, d_in = [], noise
    for n in hidden:
        g += [nn.Linear(d_in, n), nn.LeakyReLU(0.2)]
        d_in = n
    generator = nn.Sequential(*g, nn.Linear(d_in, spec.num_features), nn.Sigmoid(), nn.Unflatten(1, spec.input_shape))
    d, d_in = [nn.Flatten()], spec.num_features
    for n in reversed(hidden):
        d += [nn.Linear(d_in, n), nn.LeakyReLU(0.2), nn.Dropout(0.3)]
        d_in = n
    return generator, nn.Sequential(*d, nn.Linear(d_in, 1))


def _dcgan(spec: DataSpec, noise: int, width: int):
    if len(spec.input_shape) != 3 or spec.input_shape[1] % 4 or spec.input_shape[2] % 4:
        raise RecipeError(f"model.kind = 'dcgan' needs images whose sides divide by 4; the input is {spec.input_shape}.")
    c, h, w = spec.input_shape
    generator = nn.Sequential(
        nn.Linear(noise, 2 * width * (h // 4) * (w // 4)), nn.BatchNorm1d(2 * width * (h // 4) * (w // 4)), nn.ReLU(),
        nn.Unflatten(1, (2 * width, h // 4, w // 4)),                                  # (B, 2w, H/4, W/4)
        nn.ConvTranspose2d(2 * width, width, 4, 2, 1), nn.BatchNorm2d(width), nn.ReLU(),
        nn.ConvTranspose2d(width, c, 4, 2, 1), nn.Sigmoid())                          # (B, C, H, W)
    discriminator = nn.Sequential(
        nn.Conv2d(c, width, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(width, 2 * width, 4, 2, 1), nn.BatchNorm2d(2 * width), nn.LeakyReLU(0.2),
        nn.Flatten(), nn.Linear(2 * width * (h // 4) * (w // 4), 1))
    return generator, discriminator


class GAN(nn.Module):
    """forward(z) generates; `discriminator(x)` scores. Outputs are in the data's normalised
    units, which the recipe makes [0, 1] (data.normalize = "minmax") to match the sigmoid."""

    def __init__(self, generator, discriminator, noise: int):
        super().__init__()
        self.generator, self.discriminator, self.noise = generator, discriminator, noise

    def forward(self, z):
        return self.generator(z)


@MODELS.register("gan")
def gan(spec: DataSpec, out_features: int, *, kind: Literal["dense", "dcgan"] = "dense", noise: Count = 64,
        hidden: list[Count] = [256, 512], width: Count = 64):
    """GAN: generator from `noise`-dimensional Gaussian noise, discriminator returning one logit."""
    if spec.kind in ("text", "sequence"):
        raise RecipeError(f"model 'gan' generates images or feature vectors, not {spec.kind}.")
    g, d = _dense(spec, noise, hidden) if kind == "dense" else _dcgan(spec, noise, width)
    return GAN(g, d, noise)
