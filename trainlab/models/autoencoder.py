"""Autoencoders (dense or convolutional) and the variational autoencoder. Hinton & Salakhutdinov,
"Reducing the dimensionality of data with neural networks", 2006; Kingma & Welling,
"Auto-encoding variational Bayes", 2014."""
from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from ..core.errors import RecipeError
from ..core.registry import Count, Size
from ..core.spec import DataSpec
from .registry import MODELS


def _check(spec: DataSpec, kind: str, latent: int, default: int) -> int:
    """The latent size (0: a quarter of the input size, at most `default`), checked."""
    latent = latent or max(1, min(default, spec.num_features // 4))
    if spec.kind in ("text", "sequence"):
        raise RecipeError(f"an autoencoder reconstructs images or feature vectors, not {spec.kind}.")
    if latent >= spec.num_features:
        raise RecipeError(f"model.latent = {latent} must be smaller than the input size {spec.num_features}: "
                          "an autoencoder learns by squeezing the input through a narrower code (m < d).")
    if kind == "conv" and (len(spec.input_shape) != 3 or spec.input_shape[1] % 4 or spec.input_shape[2] % 4):
        raise RecipeError(f"model.kind = 'conv' needs images whose height and width divide by 4; the input is "
                          f"{spec.input_shape}. Use kind = 'dense'.")
    return latent


def encoder(spec: DataSpec, kind: str, hidden: list[int], width: int, out: int) -> nn.Sequential:
    """x (B, *input_shape) → (B, out)."""
    if kind == "conv":
        c, h, w = spec.input_shape
        return nn.Sequential(  # two stride-2 convolutions: H×W → H/4×W/4
            nn.Conv2d(c, width, 3, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 3, 2, 1), nn.BatchNorm2d(2 * width), nn.LeakyReLU(0.2),
            nn.Flatten(), nn.Linear(2 * width * (h // 4) * (w // 4), out))
    layers, d = [nn.Flatten()], spec.num_features
    for n in hidden:
        layers += [nn.Linear(d, n), nn.ReLU()]
        d = n
    return nn.Sequential(*layers, nn.Linear(d, out))


def decoder(spec: DataSpec, kind: str, hidden: list[int], width: int, latent: int, output: str) -> nn.Sequential:
    """z (B, latent) → (B, *input_shape)."""
    last = nn.Sigmoid() if output == "sigmoid" else nn.Identity()
    if kind == "conv":
        c, h, w = spec.input_shape
        return nn.Sequential(
            nn.Linear(latent, 2 * width * (h // 4) * (w // 4)), nn.ReLU(),
            nn.Unflatten(1, (2 * width, h // 4, w // 4)),                    # (B, 2w, H/4, W/4)
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.ConvTranspose2d(width, c, 4, 2, 1), last)                     # (B, C, H, W)
    layers, d = [], latent
    for n in reversed(hidden):
        layers += [nn.Linear(d, n), nn.ReLU()]
        d = n
    return nn.Sequential(*layers, nn.Linear(d, spec.num_features), last, nn.Unflatten(1, spec.input_shape))


class AutoEncoder(nn.Module):
    def __init__(self, spec, kind, latent, hidden, width, output):
        super().__init__()
        self.latent = latent
        self.encoder = encoder(spec, kind, hidden, width, latent)
        self.decoder = decoder(spec, kind, hidden, width, latent, output)

    def encode(self, x):
        return self.encoder(x)

    def decode(self, z):
        return self.decoder(z)

    def forward(self, x):
        return self.decoder(self.encoder(x))


class VAE(nn.Module):
    """forward(x) → (reconstruction, μ, log σ²); z = μ + σ·ε while training, z = μ in eval mode."""

    def __init__(self, spec, kind, latent, hidden, width, output):
        super().__init__()
        self.latent = latent
        self.encoder = encoder(spec, kind, hidden, width, 2 * latent)
        self.decoder = decoder(spec, kind, hidden, width, latent, output)

    def encode(self, x):
        mu, logvar = self.encoder(x).chunk(2, dim=1)  # (B, m) each
        return mu, logvar.clamp(-12, 8)

    def reparameterise(self, mu, logvar):
        return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)

    def decode(self, z):
        return self.decoder(z)

    def forward(self, x):
        mu, logvar = self.encode(x)
        z = self.reparameterise(mu, logvar) if self.training else mu
        return self.decoder(z), mu, logvar


@MODELS.register("autoencoder")
def autoencoder(spec: DataSpec, out_features: int, *, kind: Literal["dense", "conv"] = "dense", latent: Size = 0,
                hidden: list[Count] = [256], width: Count = 32, output: Literal["sigmoid", "linear"] = "sigmoid"):
    """Autoencoder x → z → x̂ (latent < input size; 0: a quarter of it, at most 32); dense or convolutional."""
    return AutoEncoder(spec, kind, _check(spec, kind, latent, 32), hidden, width, output)


@MODELS.register("vae")
def vae(spec: DataSpec, out_features: int, *, kind: Literal["dense", "conv"] = "dense", latent: Size = 0,
        hidden: list[Count] = [512, 256], width: Count = 32, output: Literal["sigmoid", "linear"] = "sigmoid"):
    """Variational autoencoder: μ and log σ² from the encoder, z = μ + σ·ε, decoded back (latent 0: d/4, at most 16)."""
    return VAE(spec, kind, _check(spec, kind, latent, 16), hidden, width, output)
