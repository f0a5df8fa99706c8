"""What the network is shown: the first training images of each class as read, and the same images after
one draw of the recipe's augmentation (the report's "Training images" figures), to check at a glance that
the data is what it should be and that an augmentation keeps each image's class (a flipped 6 is no 9)."""
from __future__ import annotations

import numpy as np

PER_CLASS = 8
MAX_CLASSES = 12  # more classes: the first twelve shown
SIDE = 64  # larger images are kept as block means of at most this many pixels a side (the report's size)


def examples(data, augment=None) -> dict:
    """images (in pixel units, larger ones reduced to SIDE pixels a side) and labels of the first PER_CLASS
    training images of each of the first MAX_CLASSES classes, and `augmented`: the same images through
    `augment` (a data.transforms.BatchAugment) with a fixed seed, the random state of the run left as it was."""
    import torch

    y = data.split.y_train
    pick = np.concatenate([np.flatnonzero(y == c)[:PER_CLASS] for c in range(min(data.spec.num_classes, MAX_CLASSES))])
    x = data.split.x_train[pick]
    out = {"images": _small(data.normalizer.invert(x)), "labels": y[pick]}
    if augment is not None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            moved = augment(torch.as_tensor(x, dtype=torch.float32)).numpy()
        out["augmented"] = _small(data.normalizer.invert(moved))
    return out


def _small(x: np.ndarray) -> np.ndarray:
    """(N, C, H, W) images as float32, reduced to block means of at most SIDE pixels a side."""
    from .split import _block_sums

    x = np.asarray(x, np.float32)
    k = -(-max(x.shape[-2:]) // SIDE)
    return x if k == 1 else _block_sums(x, k, k) / (k * k)
