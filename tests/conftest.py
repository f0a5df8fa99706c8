import gzip
import os
import struct
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
# where trainlab finds Fashion-MNIST by default (TRAINLAB_FASHION_MNIST names another folder, e.g. on a GPU machine)
FASHION = Path(os.environ.get("TRAINLAB_FASHION_MNIST") or "/usr/share/datasets/fashion-mnist")


def write_idx(path: Path, array: np.ndarray, gz: bool = False) -> Path:
    """Write an IDX file as published by LeCun et al.: magic 0x0000 08 ndim, big-endian dims, bytes."""
    a = np.ascontiguousarray(array, dtype=np.uint8)
    blob = struct.pack(">BBBB", 0, 0, 0x08, a.ndim) + b"".join(struct.pack(">I", d) for d in a.shape) + a.tobytes()
    if gz:
        blob, path = gzip.compress(blob), path.with_name(path.name + ".gz")
    path.write_bytes(blob)
    return path


def class_image(c: int, rng) -> np.ndarray:
    """A 28×28 uint8 image of class c: noise, and a bright 5×5 square at a place set by c."""
    x = rng.integers(0, 60, size=(28, 28))
    r, col = divmod(int(c), 4)
    x[2 + 6 * r: 7 + 6 * r, 2 + 6 * col: 7 + 6 * col] = 250
    return x.astype(np.uint8)


def write_mnist_folder(folder: Path, n_train=200, n_test=50, classes=10, gz=True, seed=0) -> Path:
    """A small MNIST-format folder whose classes are learnable (see class_image)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        y = np.arange(n) % classes
        x = np.stack([class_image(c, rng) for c in y])
        write_idx(folder / f"{prefix}-images-idx3-ubyte", x, gz)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", y, gz)
    return folder


@pytest.fixture
def mnist_dir(tmp_path):
    return write_mnist_folder(tmp_path / "mnist")


needs_fashion = pytest.mark.skipif(not FASHION.is_dir(), reason="Fashion-MNIST not installed (make test installs it)")


@pytest.fixture(scope="session")
def image_run(tmp_path_factory):
    """A tiny MLP trained on a small MNIST-format folder (images in 0-255 units)."""
    import trainlab
    from trainlab.core.config import parse_recipe

    root = tmp_path_factory.mktemp("image_run")
    folder = write_mnist_folder(root / "mnist", n_train=300, n_test=60)
    r = recipe_dict(data={"name": "mnist_folder", "path": str(folder)}, model={"name": "mlp", "hidden": [32]},
                    train={"epochs": 6, "batch_size": 32})
    return trainlab.run(parse_recipe(r), runs_dir=root, progress=False)


@pytest.fixture(scope="session")
def table_run(tmp_path_factory):
    """A tiny MLP trained on iris."""
    import trainlab
    from trainlab.core.config import parse_recipe

    root = tmp_path_factory.mktemp("table_run")
    return trainlab.run(parse_recipe(recipe_dict(train={"epochs": 20})), runs_dir=root, progress=False)


def recipe_dict(**sections) -> dict:
    """A small, fast recipe as a dict; keyword arguments update its sections."""
    d = {
        "name": "t", "seed": 0,
        "data": {"name": "iris"},
        "model": {"name": "mlp", "hidden": [16]},
        "optim": {"name": "adam", "lr": 0.01},
        "train": {"epochs": 5, "batch_size": 16},
        "eval": {"baselines": False},
        "report": {"html": False},
    }
    for k, v in sections.items():
        d[k] = {**d.get(k, {}), **v} if isinstance(v, dict) else v
    return d
