"""Your own model and dataset in a plugin file: trained, tested, reported, predicted and rebuilt from
the run's copy of the file; a wrong plugin is a clear error before any run directory exists."""
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import trainlab
from trainlab.core.errors import TrainlabError
from trainlab.procedure import run_in
from trainlab.registries import all_registries

MODELS_PY = '''
"""A residual MLP of my own: forward is not the composition of its layers."""
import torch
from torch import nn

import trainlab


class ResidualMLP(nn.Module):
    def __init__(self, n_in, n_out, width):
        super().__init__()
        self.inp, self.mid, self.out = nn.Linear(n_in, width), nn.Linear(width, width), nn.Linear(width, n_out)

    def forward(self, x):  # (B, F) -> (B, out)
        h = torch.relu(self.inp(x.flatten(1)))
        return self.out(h + SCALE * torch.relu(self.mid(h)))


SCALE = 1.0


@trainlab.register_model("residual_mlp")
def residual_mlp(spec, out_features, *, width: int = 16):
    """An MLP with one residual block."""
    return ResidualMLP(spec.num_features, out_features, width)
'''

DATA_PY = '''
import numpy as np

import trainlab


@trainlab.register_dataset("peaks")
def peaks(*, n: int = 300, seed: int = 0):
    """Noisy spectra whose class is where their peak lies."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    t = np.linspace(0, 1, 16)
    x = np.exp(-((t[None] - np.array([0.25, 0.5, 0.75])[y][:, None]) ** 2) / 0.01) + rng.normal(0, 0.4, (n, 16))
    return trainlab.RawData(x.astype(np.float32), y, "table", "class", "generated peaks", ("left", "middle", "right"))
'''


@pytest.fixture(autouse=True)
def fresh_registries():
    """Every test starts from trainlab's own entries, as a new process would, and leaves them so."""
    saved = {name: (dict(r._entries), {k: dict(v) for k, v in r._by_module.items()})
             for name, r in all_registries().items()}
    yield
    for name, r in all_registries().items():
        r._entries, r._by_module = saved[name]
    for module in [m for m in sys.modules if m.startswith("trainlab_plugin_")]:
        del sys.modules[module]


def _forget_plugins():
    """What another process knows: none of the plugins imported so far."""
    for r in all_registries().values():
        for module in list(r._by_module):
            r.forget(module)
    for module in [m for m in sys.modules if m.startswith("trainlab_plugin_")]:
        del sys.modules[module]


def _project(tmp_path, model="residual_mlp", **train):
    (tmp_path / "my_models.py").write_text(MODELS_PY)
    (tmp_path / "my_data.py").write_text(DATA_PY)
    recipe = tmp_path / "mine.toml"
    recipe.write_text(f'''plugins = ["my_models.py", "my_data.py"]
[data]
name = "peaks"
[model]
name = "{model}"
[optim]
name = "adam"
lr = 0.01
[train]
epochs = {train.get("epochs", 15)}
batch_size = 32
[report]
html = {str(train.get("html", False)).lower()}
''')
    return recipe


def test_a_plugin_model_and_dataset_train_and_the_run_keeps_their_code(tmp_path):
    recipe = _project(tmp_path, html=True)
    r = trainlab.run(recipe, runs_dir=tmp_path / "runs", progress=False)
    m = r.metrics
    assert m["test"]["accuracy"] > 0.8 > m["baselines"]["models"]["majority class"]["accuracy"]
    assert m["fit"]["backward"].startswith("autograd")  # its forward is its own: never the written-out MLP backward
    stored = (r.path / "recipe.toml").read_text()
    assert 'plugins = ["plugins/my_models.py", "plugins/my_data.py"]' in stored
    assert (r.path / "plugins" / "my_models.py").read_text() == MODELS_PY
    report = (r.path / "report.html").read_text()
    assert "residual_mlp (width = 16), a network defined in my_models.py (SHA-256" in report
    assert json.loads((r.path / "interpret.json").read_text())["feature_names"][-1] == "x16"  # named for it

    # another process, with the original files gone: everything comes from the run's copies
    test = np.load(r.path / "test_predictions.npz")
    (tmp_path / "my_models.py").unlink()
    (tmp_path / "my_data.py").unlink()
    _forget_plugins()
    data = trainlab.load_run(r.path).predictor
    from trainlab.data.prepare import prepare_from_recipe

    x = prepare_from_recipe(data.recipe, 0).split.x_test
    rows = data.normalizer.invert(x)  # back to the data's own units: what a user sends
    assert (np.array(data.predict(rows)["predicted"]) == np.array(data.spec.class_names)[test["pred"]]).all()
    csv = tmp_path / "rows.csv"
    csv.write_text(",".join(f"x{i + 1}" for i in range(16)) + "\n"
                   + "\n".join(",".join(f"{v:.7g}" for v in row) for row in rows[:5]) + "\n")
    out = subprocess.run([sys.executable, "-m", "trainlab.cli.main", "predict", str(r.path), str(csv),
                          "--out", str(tmp_path / "p.json")], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    predicted = [row["predicted"] for row in json.loads((tmp_path / "p.json").read_text())]
    assert predicted == list(np.array(data.spec.class_names)[test["pred"][:5]])


def test_an_interrupted_plugin_run_resumes_with_its_copy_and_an_edited_file_is_another_recipe(tmp_path):
    recipe = _project(tmp_path, epochs=4)
    r = trainlab.run(recipe, runs_dir=tmp_path / "runs", progress=False)
    # edit the original: another module, whose builder now replaces the first
    (tmp_path / "my_models.py").write_text(MODELS_PY.replace("SCALE = 1.0", "SCALE = 0.0"))
    edited = trainlab.run(recipe, runs_dir=tmp_path / "other", progress=False)
    assert edited.metrics["test"]["loss"] != r.metrics["test"]["loss"]
    # the first run, marked interrupted before its test, resumes with the code it was trained with
    for f in ("metrics.json", "result.json"):
        (r.path / f).unlink()
    info = json.loads((r.path / "run.json").read_text())
    (r.path / "run.json").write_text(json.dumps({**info, "status": "interrupted"}))
    again = trainlab.resume(r.path, progress=False)
    assert again.metrics["test"]["loss"] == pytest.approx(r.metrics["test"]["loss"], abs=1e-6)
    # a family of runs (ablation, learning curve) tells the two versions apart by their content
    family = tmp_path / "family"
    family.mkdir()
    shutil.copytree(r.path, family / r.path.name)
    assert run_in(family, trainlab.procedure._resolved(r.path / "recipe.toml")).path == family / r.path.name
    newer = run_in(family, trainlab.procedure._resolved(recipe), progress=False)
    assert newer.path != family / r.path.name


BAD = {
    "raises on import": ("x = 1\nraise ValueError('no licence file')\n", "residual_mlp",
                         "failed on import at line 2: ValueError: no licence file"),
    "takes a built-in name": ("import trainlab\n@trainlab.register_model('mlp')\ndef m(spec, n):\n    return None\n",
                              "mlp", "Model 'mlp' is built into trainlab; register yours under another name"),
    "imports a sibling file": ("from helpers import Block\n", "residual_mlp", "A plugin is one file"),
    "gives the wrong output": (MODELS_PY.replace("nn.Linear(width, n_out)", "nn.Linear(width, 2)"), "residual_mlp",
                               "returned [2, 2] for a batch of 2 inputs of shape [16]; the classification task needs "
                               "[2, 3]"),
    "fails in forward": (MODELS_PY.replace("nn.Linear(n_in, width)", "nn.Linear(n_in + 1, width)"), "residual_mlp",
                         "fails on a batch of 2 inputs of shape [16] (float32): RuntimeError: mat1 and mat2 shapes"),
    "returns no module": (MODELS_PY.replace("return ResidualMLP(spec.num_features, out_features, width)",
                                            "return 'a network'"), "residual_mlp", "returned a str; a model builder"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_wrong_plugin_is_a_clear_error_before_any_run_directory(tmp_path, case):
    source, model, message = BAD[case]
    recipe = _project(tmp_path, model=model)
    (tmp_path / "my_models.py").write_text(source)
    (tmp_path / "helpers.py").write_text("Block = 1\n")
    with pytest.raises(TrainlabError, match=re.escape(message)):
        trainlab.run(recipe, runs_dir=tmp_path / "runs", progress=False)
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").glob("*/recipe.toml"))


@pytest.mark.parametrize("returns,message", [
    ("x", "returned a ndarray; a dataset builder returns trainlab.RawData"),
    ("trainlab.RawData(x, y.astype(float), 'table', 'class', 's', ('a', 'b'))", "class labels must be integers 0..1"),
    ("trainlab.RawData(x, y, 'tabel', 'class', 's', ('a', 'b'))", "kind 'tabel' with target 'class'; the kinds"),
    ("trainlab.RawData(x, y, 'table', 'class', 's', ('a', 'b'), feature_names=('f',))", "1 feature names for 4 features"),
])
def test_a_wrong_plugin_dataset_is_a_clear_error(tmp_path, returns, message):
    (tmp_path / "d.py").write_text(f"""import numpy as np
import trainlab
@trainlab.register_dataset("mine")
def mine():
    x, y = np.zeros((20, 4), np.float32), np.arange(20) % 2
    return {returns}
""")
    recipe = trainlab.load_recipe(_project(tmp_path), ['plugins=["d.py", "my_models.py"]', "data.name=mine"])
    with pytest.raises(TrainlabError, match=re.escape(message)):
        trainlab.run(recipe, runs_dir=tmp_path / "runs", progress=False)


@pytest.mark.parametrize("entry,message", [
    ("my models", "neither a Python file (ending in .py) nor a module name"),
    ("missing.py", "Plugin file"),
    ("no_such_package.models", "neither a .py file nor a module Python can import"),
])
def test_a_plugin_that_cannot_be_found_is_named(tmp_path, entry, message):
    with pytest.raises(TrainlabError, match=re.escape(message)):
        trainlab.run(_project(tmp_path), [f'plugins=["{entry}"]'], runs_dir=tmp_path / "runs", progress=False)


def test_plugin_files_are_relative_to_the_recipe_file(tmp_path, monkeypatch):
    recipe = _project(tmp_path)
    monkeypatch.chdir(Path("/"))
    r = trainlab.load_recipe(recipe)
    assert r.plugins == [str(tmp_path / "my_models.py"), str(tmp_path / "my_data.py")]
    assert "plugins" not in trainlab.load_recipe(Path(__file__).parents[1] / "recipes" / "tp1-mlp.toml").to_dict()


LOSSES_PY = '''
import torch
import torch.nn.functional as F

import trainlab


@trainlab.register_loss("pinball")
def pinball(outputs, targets, *, q: float = 0.5):
    """The quantile loss: the model predicts the q-th quantile of the target."""
    e = targets - outputs
    return torch.maximum(q * e, (q - 1) * e).mean()


@trainlab.register_loss("focal")
def focal(outputs, targets, *, gamma: float = 2.0):
    """(1 - p)^gamma times the cross-entropy."""
    logp = F.log_softmax(outputs.float(), 1).gather(1, targets[:, None]).squeeze(1)
    return (-(1 - logp.exp()) ** gamma * logp).mean()


@trainlab.register_loss("per_sample")
def per_sample(outputs, targets):
    return F.cross_entropy(outputs, targets, reduction="none")
'''


@pytest.mark.parametrize("q", [0.1, 0.9])
def test_a_plugin_loss_is_the_one_trained_on_and_judged_by(tmp_path, q):
    """recipes/quantile-diabetes.toml: with the pinball loss the network predicts a quantile, about q of the
    test targets lie below it, and the baselines (which predict a mean) are compared with it on that loss."""
    from trainlab.report.methods import baseline_verdict, methods_text

    recipe = Path(__file__).parents[1] / "recipes" / "quantile-diabetes.toml"
    r = trainlab.run(recipe, [f'task.loss={{name="pinball", q={q}}}', "report.html=false"], runs_dir=tmp_path,
                     progress=False)
    m = r.metrics
    assert abs(m["test"]["share_below_prediction"] - q) < 0.1
    assert abs(m["baselines"]["models"]["ridge regression"]["share_below_prediction"] - 0.5) < 0.15
    assert m["baselines"]["compared_on"] == "loss" and m["test"]["loss"] < m["baselines"]["models"]["mean"]["loss"]
    assert "Wilcoxon's signed-rank test on the loss of each sample" in baseline_verdict(m)[0]
    assert f"to minimise the loss pinball (q = {q}), defined in the recipe's plugin code on standardised targets" \
        in methods_text(r.recipe, m, {})[1]


def test_a_plugin_loss_for_classes_rebuilds_and_its_mistakes_are_named(tmp_path):
    recipe = _project(tmp_path, epochs=5)
    (tmp_path / "losses.py").write_text(LOSSES_PY)
    over = ['plugins=["my_models.py", "my_data.py", "losses.py"]']
    r = trainlab.run(recipe, [*over, "task.loss=focal"], runs_dir=tmp_path / "runs", progress=False)
    assert r.metrics["test"]["accuracy"] > 0.5 and "task" in r.metrics
    _forget_plugins()
    assert trainlab.load_run(r.path).predictor.task.custom is not None  # the loss comes back from the run's copy
    for change, message in (("task.loss=fokal", "'fokal' is not a loss of this task: auto, ce, bce, perceptron; "
                                                "registered: focal, per_sample, pinball"),
                            ('task.loss={name="focal", gama=1}', "Unknown key 'task.loss.gama' in [task.loss]. Did you "
                                                                 "mean 'gamma'?"),
                            ("task.loss=per_sample", "returned shape [2] for outputs of shape [2, 3]; a loss returns "
                                                     "one finite number"),
                            ("task.label_smoothing=0.1", "task.label_smoothing and task.class_weights are for the "
                                                         "cross-entropy losses")):
        extra = ["task.loss=focal"] if change.startswith("task.label") else []
        with pytest.raises(TrainlabError, match=re.escape(message)):
            trainlab.run(recipe, [*over, *extra, change], runs_dir=tmp_path / "bad", progress=False)
    assert not (tmp_path / "bad").exists()


def test_a_module_plugin_is_imported_by_name_and_named_in_the_methods(tmp_path, monkeypatch):
    """An importable module (an installed package of the user's) instead of a file: not copied, named."""
    from trainlab.report.methods import methods_text

    (tmp_path / "mylab_models.py").write_text(MODELS_PY)
    (tmp_path / "my_data.py").write_text(DATA_PY)
    monkeypatch.syspath_prepend(str(tmp_path))
    recipe = _project(tmp_path, epochs=3)
    r = trainlab.run(recipe, ['plugins=["mylab_models", "my_data.py"]'], runs_dir=tmp_path / "runs", progress=False)
    assert (r.path / "plugins").is_dir() and not (r.path / "plugins" / "mylab_models.py").exists()
    assert 'plugins = ["mylab_models", "plugins/my_data.py"]' in (r.path / "recipe.toml").read_text()
    assert "a network defined in the module mylab_models and my_data.py (SHA-256 " in methods_text(r.recipe, r.metrics, {})[1]


SHAPED_PY = '''
import trainlab
from torch import nn


@trainlab.register_model("pixels")
def pixels(spec, out_features, *, channels: int = 1):
    """A per-pixel 3x3 convolution: a segmentation head, or an image's reconstruction."""
    return nn.Conv2d(spec.input_shape[0], channels, 3, padding=1)


@trainlab.register_model("squeeze")
def squeeze(spec, out_features, *, width: int = 8):
    """A table squeezed to `width` values and not expanded back."""
    return nn.Linear(spec.num_features, width)
'''


@pytest.mark.parametrize("task,data,model,message", [
    ("segmentation", "synthetic_nuclei", "channels = 2", "returned [2, 2, 32, 32] for a batch of 2 inputs of shape "
     "[1, 32, 32]; the segmentation task needs [2, 1, 32, 32], one logit per pixel"),
    ("reconstruction", "digits", "width = 8", "returned [2, 8] for a batch of 2 inputs of shape [64]; the "
     "reconstruction task needs [2, 64], a reconstruction of each input, in its shape"),
    ("segmentation", "synthetic_nuclei", "channels = 1", None),
    ("reconstruction", "digits", "width = 64", None),
])
def test_a_plugin_model_is_checked_against_what_each_task_needs(tmp_path, task, data, model, message):
    """Segmentation needs one logit per pixel, reconstruction an output of the input's shape; a model of
    the right shape trains."""
    (tmp_path / "shaped.py").write_text(SHAPED_PY)
    name = "pixels" if task == "segmentation" else "squeeze"
    (tmp_path / "r.toml").write_text(f'''name = "shaped"
plugins = ["shaped.py"]
[data]
name = "{data}"
{'n = 24' + chr(10) + 'size = 32' if task == 'segmentation' else 'limit = 300'}
[model]
name = "{name}"
{model}
[task]
name = "{task}"
[train]
epochs = 1
[report]
html = false
''')
    if message:
        with pytest.raises(TrainlabError, match=re.escape(message)):
            trainlab.run(tmp_path / "r.toml", runs_dir=tmp_path / "runs", progress=False)
        assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").glob("*/recipe.toml"))
    else:
        r = trainlab.run(tmp_path / "r.toml", runs_dir=tmp_path / "runs", progress=False)
        assert np.isfinite(r.metrics["test"]["dice" if task == "segmentation" else "mse"])


@trainlab.register_dataset("gapped")
def gapped(dtype: str = "int64", step: float = 1.0):
    y = np.zeros((4, 16, 16), dtype)
    y[:, 2:5, 2:5], y[:, 8:11, 8:11], y[:, 12:15, 1:4], y[:, :, 15] = step, 2, 7, -1
    return trainlab.RawData(np.ones((4, 1, 16, 16), np.float32), y, "image", "mask", "gapped", ("background", "nucleus"))


def test_a_plugin_s_masks_with_gaps_in_their_ids_count_their_objects():
    """Instance ids 1, 2, 7 (an annotation tool's, after deleting objects) are 3 nuclei, as the mask
    readers number them; padding (-1) stays; float masks of whole numbers are ids too."""
    from trainlab.core.errors import DataError
    from trainlab.data.prepare import load_raw

    for dtype in ("int64", "float32"):
        raw = load_raw("gapped", {"dtype": dtype})
        assert raw.y.dtype == np.int32 and sorted(np.unique(raw.y)) == [-1, 0, 1, 2, 3]
    with pytest.raises(DataError, match=r"the masks hold float32 values; a mask holds integer instance ids"):
        load_raw("gapped", {"dtype": "float32", "step": 1.5})
