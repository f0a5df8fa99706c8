import pytest

import trainlab
from trainlab.core.config import parse_recipe
from tests.conftest import recipe_dict, write_mnist_folder


@pytest.fixture(scope="session")
def image_run(tmp_path_factory):
    """A tiny MLP trained on a small MNIST-format folder (images in 0-255 units)."""
    root = tmp_path_factory.mktemp("image_run")
    folder = write_mnist_folder(root / "mnist", n_train=300, n_test=60)
    r = recipe_dict(data={"name": "mnist_folder", "path": str(folder)}, model={"name": "mlp", "hidden": [32]},
                    train={"epochs": 6, "batch_size": 32})
    return trainlab.run(parse_recipe(r), runs_dir=root, progress=False)


@pytest.fixture(scope="session")
def table_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("table_run")
    return trainlab.run(parse_recipe(recipe_dict(train={"epochs": 20})), runs_dir=root, progress=False)
