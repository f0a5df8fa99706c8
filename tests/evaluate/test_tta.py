import numpy as np
import pytest
import torch

import trainlab
from trainlab.core.config import parse_recipe
from trainlab.core.errors import RecipeError
from trainlab.data.prepare import prepare_from_recipe
from trainlab.export.exporter import export

from ..conftest import REPO, needs_fashion, recipe_dict


@needs_fashion
def test_flip_tta_is_what_is_tested_predicted_served_and_exported(tmp_path):
    r = trainlab.run(REPO / "recipes" / "tp1-mlp.toml", ["data.limit=3000", "train.epochs=2", "eval.baselines=false",
                                                          "report.interpret=false", "eval.tta=\"flip\""],
                     runs_dir=tmp_path, progress=False)
    p = r.predictor
    data = prepare_from_recipe(p.recipe, p.meta["seed"])
    x, y = torch.as_tensor(data.split.x_test), data.split.y_test
    with torch.no_grad():
        plain, mirror = p.network(x), p.network(x.flip(-1))
    averaged = (plain + mirror).argmax(1).numpy()
    assert (averaged != plain.argmax(1).numpy()).sum() > 0  # the mirror changes some predictions
    assert r.metrics["test"]["accuracy"] == pytest.approx((averaged == y).mean(), abs=1e-6)
    # predict and serve take raw pixels and answer as tested
    raw = data.normalizer.invert(data.split.x_test[:300])
    got = [p.spec.class_names.index(c) for c in r.predict(raw)["predicted"]]
    assert got == averaged[:300].tolist()
    assert p.metadata()["test_time_augmentation"] == "flip"
    card = export(r.path, "torchscript")
    assert card["parity"]["passed"] and card["test_time_augmentation"].startswith("flip")
    assert "its left-right mirror" in (r.path / "report.html").read_text()


def test_tta_and_augment_are_checked_against_the_data_before_the_run(tmp_path):
    bad = recipe_dict(eval={"tta": "flip"})  # iris: no image to mirror
    with pytest.raises(RecipeError, match="eval.tta"):
        trainlab.run(parse_recipe(bad), runs_dir=tmp_path / "runs", progress=False)
    assert not (tmp_path / "runs").exists()


def test_augment_with_the_task_left_to_auto(mnist_dir, tmp_path):
    """The task is inferred from the data (class labels: classification), so augmentation is allowed."""
    r = recipe_dict(data={"name": "mnist_folder", "path": str(mnist_dir), "augment": {"flip": True, "crop": 2}},
                    model={"name": "mlp", "hidden": [16]}, train={"epochs": 1, "batch_size": 32}, eval={"tta": "flip"})
    assert "name" not in r.get("task", {})
    run = trainlab.run(parse_recipe(r), runs_dir=tmp_path, progress=False)
    assert np.isfinite(run.metrics["test"]["accuracy"])
