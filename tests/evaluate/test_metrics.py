"""Metrics of your own (trainlab.register_metric in a plugin, eval.metrics in the recipe): scored on the
network's and every baseline's test predictions with a bootstrap interval and over repeats, compared the
way they point; a wrong metric is a clear error before any run directory exists."""
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

import trainlab
from trainlab.core.errors import TrainlabError
from trainlab.report import headline_keys, lower_is_better

REPO = Path(__file__).resolve().parents[2]


def _screening(tmp_path, *overrides):
    recipe = tmp_path / "screening.toml"
    shutil.copy(REPO / "recipes" / "screening-breast-cancer.toml", recipe)
    (tmp_path / "plugins").mkdir(exist_ok=True)
    shutil.copy(REPO / "recipes" / "plugins" / "metrics.py", tmp_path / "plugins" / "metrics.py")
    return trainlab.run(recipe, ["train.epochs=40", "report.interpret=false", *overrides], runs_dir=tmp_path / "runs",
                        progress=False)


def test_a_screening_metric_and_the_brier_score_are_scored_like_trainlabs_own(tmp_path):
    r = _screening(tmp_path, "report.html=false")
    m, test = r.metrics, r.metrics["test"]
    assert 0.7 < test["sensitivity_at_specificity"] <= 1 and 0 < test["brier"] < 0.15
    lo, hi = test["bootstrap"]["brier"]
    assert lo < test["brier"] < hi and test["bootstrap"]["sensitivity_at_specificity"][1] <= 1
    # the majority class predicts "benign" with certainty: it finds no cancer, and each malignant
    # tumour costs it 2 in the Brier score
    majority = m["baselines"]["models"]["majority class"]
    share = np.mean(np.load(r.path / "test_predictions.npz")["true"] == 0)
    assert majority["sensitivity_at_specificity"] == 0.0 and majority["brier"] == pytest.approx(2 * share)
    assert m["baselines"]["models"]["logistic regression"]["brier"] < majority["brier"]
    assert headline_keys(m)[-3:] == ["sensitivity_at_specificity", "brier", "loss"]
    assert lower_is_better("brier", m) and not lower_is_better("sensitivity_at_specificity", m)
    assert test["user_metrics"]["brier"]["source"].endswith("metrics.py")
    from trainlab.report.methods import methods_text

    text = " ".join(methods_text(r.recipe, m, {}))
    assert f"brier {test['brier']:.4f} (95% bootstrap interval {lo:.4f}-{hi:.4f})" in text


def test_metrics_of_ones_own_repeat_and_compare_the_way_they_point(tmp_path):
    from trainlab.report.compare import significance

    r = _screening(tmp_path, "report.html=false", "eval.repeats=2", "eval.baselines=false")
    rep = r.metrics["repeats"]["test"]["brier"]
    assert rep["n"] == 2 and rep["mean"] == pytest.approx(np.mean(rep["values"]))
    worse = {**r.metrics, "repeats": {**r.metrics["repeats"], "test": {
        **r.metrics["repeats"]["test"], "brier": {**rep, "values": [v + d for v, d in zip(rep["values"], (0.1, 0.2))]}}}}
    assert significance(r.metrics, worse, "brier")["better"] == 0  # the lower Brier score wins


METRIC_PY = '''
import numpy as np
import trainlab

@trainlab.register_metric("mine")
def mine(true, pred, scores, *, power: float = 1.0):
    """{doc}"""
    {body}
'''


@pytest.mark.parametrize("body,metrics,message", [
    ("return 1.0", '["nope"]', "eval.metrics: 'nope' is not a metric; registered: "),
    ("return 1.0", '[{ name = "mine", powr = 2 }]', "Unknown key 'eval.metrics.powr' in [eval.metrics]. Did you "
                                                     "mean 'power'?"),
    ("return 1.0", '["mine", "mine"]', "eval.metrics names 'mine' twice"),
    ("return scores[:, 10].mean()", '["mine"]', "fails on 40 made-up classes (true and pred of shape [40], scores of "
                                                "shape [40, 10]): IndexError"),
    ("return np.ones(3)", '["mine"]', "returned array([1., 1., 1.]) (ndarray); a metric returns one finite number"),
])
def test_a_wrong_metric_is_a_clear_error_before_any_run_directory(tmp_path, body, metrics, message):
    (tmp_path / "m.py").write_text(METRIC_PY.format(doc="A metric.", body=body))
    (tmp_path / "r.toml").write_text(f'''plugins = ["m.py"]
[data]
name = "digits"
[model]
name = "mlp"
[eval]
metrics = {metrics}
''')
    with pytest.raises(TrainlabError, match=re.escape(message)):
        trainlab.run(tmp_path / "r.toml", runs_dir=tmp_path / "runs", progress=False)
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").glob("*/recipe.toml"))


def test_a_metric_is_for_predicted_classes_or_values_and_takes_no_name_of_trainlabs():
    from trainlab.core.errors import RecipeError, RegistryError
    from trainlab.evaluate.metrics import check

    with pytest.raises(RegistryError, match="Metric 'accuracy' is one of trainlab's own"):
        trainlab.register_metric("accuracy")
    with pytest.raises(RecipeError, match="the reconstruction task predicts neither"):
        check(["anything"], "reconstruction", "class", 10)


def test_a_metric_that_fails_only_on_the_test_is_left_out_and_the_run_finishes(tmp_path, caplog):
    """It passed the check on made-up predictions; on the real ones it raises. The trained run is not lost."""
    (tmp_path / "m.py").write_text(METRIC_PY.format(doc="Fails on real data.",
                                                    body="if len(true) != 40: raise ValueError('too many')\n"
                                                         "    return 1.0"))
    (tmp_path / "r.toml").write_text('''plugins = ["m.py"]
[data]
name = "digits"
[model]
name = "mlp"
[optim]
name = "adam"
[train]
epochs = 3
[eval]
metrics = ["mine"]
[report]
html = false
''')
    r = trainlab.run(tmp_path / "r.toml", runs_dir=tmp_path / "runs", progress=False)
    assert r.status == "finished" and "mine" not in r.metrics["test"] and r.metrics["test"]["accuracy"] > 0.5
    assert "metric 'mine' failed on the test predictions and is left out: ValueError: too many" in caplog.text
