"""trainlab ablate: the recipe and one change at a time, on the same splits, each tested against it."""
import json

import pytest

from tests.cli.test_cli import SMALL, cli_here, write_recipe
from trainlab.ablation import ablate
from trainlab.core.errors import RecipeError


def test_each_change_is_tested_against_the_recipe_on_the_same_samples(tmp_path):
    recipe = write_recipe(tmp_path / "r.toml", SMALL.format(epochs=3, batch=32))
    args = ["ablate", recipe, "--change", "model.hidden=[2]", "--change", "optim.name=sgd;optim.lr=0.001",
            "--runs-dir", tmp_path, "-q"]
    out = cli_here(*args)
    assert out.returncode == 0, out.stderr
    folder = tmp_path / "small-ablation"
    runs = sorted(p.parent for p in folder.glob("*/metrics.json"))
    assert len(runs) == 3
    recipes = [(r / "recipe.toml").read_text() for r in runs]
    assert sum("hidden = [2]" in t for t in recipes) == 1 and sum('name = "sgd"' in t for t in recipes) == 1
    digests = {json.loads((r / "metrics.json").read_text())["data"]["test_digest"] for r in runs}
    assert len(digests) == 1  # the same test samples, so each change is paired with the recipe sample by sample
    assert out.stdout.count("McNemar's exact test on the same 180 test samples") == 2
    assert "hidden=[2]" in out.stdout and "significant" in out.stdout  # 2 hidden units cannot tell 10 digits apart
    html = (folder / "ablation.html").read_text()
    assert "the recipe as it is" in html and "optim.name=sgd; optim.lr=0.001" in html
    from trainlab.evaluate.robustness import holm

    changes = json.loads((folder / "ablation.json").read_text())["changes"]  # two tests at once: Holm's correction
    assert [c["p_holm"] for c in changes] == holm([c["p_value"] for c in changes])
    assert all(c["significant"] == (c["p_holm"] < 0.05) for c in changes) and "(Holm: " in out.stdout
    assert "Holm-adjusted over the 2 comparisons with run 0" in html
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06]) and holm([0.5]) == [0.5]
    again = cli_here(*args)  # everything finished: read, not trained again
    assert again.returncode == 0 and len(list(folder.glob("*/metrics.json"))) == 3
    shown = cli_here("show", folder)  # the table again, from the folder
    assert shown.returncode == 0 and shown.stdout.count("McNemar's exact test on the same 180 test samples") == 2


def test_a_change_that_changes_nothing_or_a_wrong_key_fails_before_training(tmp_path):
    recipe = write_recipe(tmp_path / "r.toml", SMALL.format(epochs=3, batch=32))
    with pytest.raises(RecipeError, match="leaves the recipe as it is"):
        ablate(recipe, [["optim.lr=0.01"]], runs_dir=tmp_path)
    with pytest.raises(RecipeError, match="Unknown key"):
        ablate(recipe, [["model.hidden=[8]"], ["model.hiden=[8]"]], runs_dir=tmp_path)
    assert not list(tmp_path.glob("*-ablation"))
