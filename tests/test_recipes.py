"""Every shipped recipe runs end to end in a short form; the quick ones are checked on numbers."""
import pytest

import trainlab
from tests.conftest import REPO, FASHION

RECIPES = sorted(p.name for p in (REPO / "recipes").glob("*.toml"))
SHORT = ["train.max_steps=40", "train.epochs=2", "eval.baseline_max_samples=500", "report.interpret=false"]


def _needs(name):
    text = (REPO / "recipes" / name).read_text()
    return "fashion_mnist" in text and not FASHION.is_dir()


# recipes whose short form needs more than SHORT: the GAN's judge classifier trains in a few steps too
EXTRA = {"gan.toml": ['task.judge_set=["train.max_steps=20", "data.limit=3000", "report.html=false"]',
                      "task.samples=500", "task.val_samples=300"],
         "fast-fashion.toml": ["train.batch_size=64", "train.max_steps=20", "data.limit=500"],
         "sentiment-minilm.toml": ["data.n=400", "train.max_steps=8"],
         # the heavy image models: smaller batches, the same code path (the suite stays well under 15 minutes)
         **{name: ["train.batch_size=32", "data.limit=500"] for name in ("vit-fashion.toml", "resnet-fashion.toml",
                                                                          "tp2-model3.toml")}}

SHORT_RL = ["agent.steps=3000", "agent.n_envs=16", "agent.learning_starts=500", "agent.eval_every=1500",
            "agent.eval_games=20"]


def _data_files(name, tmp_path) -> list[str]:
    """Recipes for data trainlab cannot ship get small files in the published layout."""
    if "sbsst265" in name:
        from tests.tasks.test_segmentation import write_sbsst265

        return [f"data.path={write_sbsst265(tmp_path / 'S-BSST265', n=8)}"]
    return []


@pytest.mark.parametrize("name", RECIPES)
def test_recipe_short_form(tmp_path, name):
    if _needs(name):
        pytest.skip("Fashion-MNIST not installed")
    text = (REPO / "recipes" / name).read_text()
    rl = "[env]" in text
    over = SHORT_RL if rl else SHORT + (["data.limit=3000"] if "fashion" in text else []) + EXTRA.get(name, [])
    over = over + _data_files(name, tmp_path)
    r = trainlab.run(REPO / "recipes" / name, over, runs_dir=tmp_path, progress=False)
    assert r.status == "finished" and (r.path / "report.html").is_file()
    if rl:
        assert r.metrics["fit"]["env_steps"] <= 3000 + 16 and r.metrics["eval"]["heuristic"]["n"] == 100
    else:
        assert r.metrics["fit"]["steps"] <= 40
        # classical baselines exist for classifiers and regressions, not for the other tasks
        supervised = r.metrics["task"]["name"] in ("classification", "regression")
        assert bool(r.metrics["baselines"]) == (supervised and r.recipe.eval.baselines)
        # what each epoch validates is what the task declares (train.early_stopping.monitor chooses among it)
        from trainlab.tasks.base import monitored

        for key in (k for k in r.metrics["history"][0] if k.startswith("val_")):
            assert monitored(r.metrics["task"]["name"], key) in ("min", "max")


def test_perceptron_separates_triangles_from_squares(tmp_path):
    r = trainlab.run(REPO / "recipes" / "perceptron.toml", ["eval.baselines=false", "report.html=false"],
                     runs_dir=tmp_path, progress=False)
    assert r.metrics["test"]["accuracy"] == 1.0


def test_moons_need_a_hidden_layer(tmp_path):
    over = ["eval.baselines=false", "report.html=false", "train.epochs=40"]
    deep = trainlab.run(REPO / "recipes" / "moons-mlp.toml", over, runs_dir=tmp_path, progress=False)
    flat = trainlab.run(REPO / "recipes" / "moons-mlp.toml", over + ["model.hidden=[]"], runs_dir=tmp_path, progress=False)
    assert deep.metrics["test"]["accuracy"] > 0.95 > flat.metrics["test"]["accuracy"] + 0.04


@pytest.mark.skipif(not FASHION.is_dir(), reason="Fashion-MNIST not installed")
def test_tp1_learns_on_a_slice_of_fashion_mnist(tmp_path):
    r = trainlab.run(REPO / "recipes" / "tp1-mlp.toml", ["data.limit=8000", "train.epochs=8", "eval.baselines=false",
                                                          "report.html=false"], runs_dir=tmp_path, progress=False)
    acc = r.metrics["test"]["accuracy"]
    assert 0.65 < acc < 0.9, acc  # 8 epochs of plain SGD on 7,200 images; the full recipe reaches about 0.83
