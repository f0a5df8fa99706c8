"""An example plugin: a network of your own, trained by trainlab like its built-in ones
(recipes/tiny-cnn.toml names this file; README, "Your own model and data")."""
from torch import nn

import trainlab


class TinyCNN(nn.Module):
    """Two 3×3 convolutions with batch norm, each halving the image by max-pooling, and one linear layer."""

    def __init__(self, shape: tuple[int, ...], out_features: int, width: int, dropout: float):
        super().__init__()
        c, h, w = shape
        self.features = nn.Sequential(
            nn.Conv2d(c, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(), nn.MaxPool2d(2))
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(2 * width * (h // 4) * (w // 4), out_features))

    def forward(self, x):  # (B, C, H, W) → (B, 2·width, H/4, W/4) → (B, out_features)
        return self.head(self.features(x))


@trainlab.register_model("tiny_cnn")
def tiny_cnn(spec, out_features, *, width: int = 16, dropout: float = 0.2):
    """Two conv layers (width, 2·width channels) with batch norm and max-pooling, dropout, a linear classifier."""
    return TinyCNN(tuple(spec.input_shape), out_features, width, dropout)
