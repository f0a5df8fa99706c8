import numpy as np
import pytest
import torch
import torch.nn.functional as F

from trainlab.evaluate.calibration import fit_temperature, reliability
from trainlab.evaluate.errors import classification_errors, regression_residuals
from trainlab.evaluate.robustness import summarize


def test_ece_of_a_perfectly_calibrated_and_an_overconfident_model():
    rng = np.random.default_rng(0)
    conf = rng.uniform(0.5, 1.0, 20000)
    correct = rng.uniform(size=conf.size) < conf  # right with exactly the stated probability
    probs = np.stack([conf, 1 - conf], 1)
    y = np.where(correct, 0, 1)
    assert reliability(probs, y)["ece"] < 0.01
    over = np.stack([np.full(1000, 0.99), np.full(1000, 0.01)], 1)
    y = (np.arange(1000) % 2).astype(int)  # right half the time, 99% sure every time
    assert reliability(over, y)["ece"] == pytest.approx(0.49, abs=1e-6)


def test_temperature_scaling_cools_an_overconfident_model():
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 3, (3000,), generator=g)
    logits = torch.randn(3000, 3, generator=g)
    logits[torch.arange(3000), y] += 1.0  # informative...
    hot = logits * 4  # ...but four times too sure
    t = fit_temperature(hot, y)
    assert 3.0 < t < 5.0
    assert F.cross_entropy(hot / t, y) < F.cross_entropy(hot, y)


def test_most_confidently_wrong_and_per_class_errors():
    probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8], [0.3, 0.7]])
    y = np.array([1, 1, 1, 0])
    e = classification_errors(probs, y, ["a", "b"])
    assert [r["index"] for r in e["most_confident_wrong"]] == [0, 3, 1]
    assert e["errors"] == 3 and e["per_class"][0]["class"] == "a" and e["per_class"][0]["error_rate"] == 1.0


def test_residuals_and_repeat_summary():
    r = regression_residuals(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.5, 6.0]))
    assert r["largest"][0]["index"] == 2 and r["largest"][0]["residual"] == 3.0
    s = summarize([0.8, 0.82, 0.84])
    assert s["mean"] == pytest.approx(0.82) and s["std"] == pytest.approx(0.02)
    assert s["ci95"][0] == pytest.approx(0.82 - 4.302653 * 0.02 / 3 ** 0.5, rel=1e-4)


def test_training_labels_flipped_on_purpose_are_the_ones_the_network_doubts(tmp_path):
    """Digits written as a CSV with 20 training labels changed: after training, the doubted list is
    made of them, each shown with its pixel values."""
    import trainlab
    from sklearn.datasets import load_digits
    from trainlab.core.config import parse_recipe
    from tests.conftest import recipe_dict

    x, y = load_digits(return_X_y=True)
    flipped = np.random.default_rng(0).choice(len(y), 60, replace=False)
    y = y.copy()
    y[flipped] = (y[flipped] + 5) % 10
    ids = np.arange(len(y))
    csv = tmp_path / "digits.csv"
    header = ",".join([f"p{i}" for i in range(64)] + ["id", "y"])
    np.savetxt(csv, np.column_stack([x, ids, y]), fmt="%g", delimiter=",", header=header, comments="")
    r = trainlab.run(parse_recipe(recipe_dict(data={"name": "table", "path": str(csv), "label": "y", "group": "id"},
                                              model={"name": "mlp", "hidden": [64]}, train={"epochs": 15})),
                     runs_dir=tmp_path, progress=False)  # (a group per row: the id column is no feature)
    errors = r.metrics["test"]["errors"]
    doubted = errors["doubtful_training_labels"]
    assert errors["training_checked"] == r.metrics["data"]["sizes"]["train"] and len(doubted) == 12
    pixels = {tuple(row): i for i, row in enumerate(x)}
    found = [pixels[tuple(d["features"][f"p{i}"] for i in range(64))] for d in doubted]
    assert sum(i in set(flipped.tolist()) for i in found) >= 10
    assert all(d["p_label"] < 0.5 and d["true"] != d["predicted"] for d in doubted[:10])


def test_with_folds_the_labels_doubted_out_of_fold_are_the_flipped_ones(tmp_path):
    """Digits with 60 labels changed, 5-fold cross-validation: every sample is judged by the network trained
    without it, and the 12 labels doubted most over the folds are nearly all changed ones, named by their row."""
    import trainlab
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    flipped = np.random.default_rng(0).choice(len(y), 60, replace=False)
    y = y.copy()
    y[flipped] = (y[flipped] + 5) % 10
    csv = tmp_path / "digits.csv"
    np.savetxt(csv, np.column_stack([x, y]), fmt="%g", delimiter=",", header=",".join([f"p{i}" for i in range(64)] + ["y"]),
               comments="")
    r = trainlab.run(csv, ["eval.folds=5", "train.epochs=30", "report.interpret=false"], label="y",
                     runs_dir=tmp_path / "runs", progress=False)
    oof = r.metrics["out_of_fold"]
    assert oof["checked"] == len(y) and oof["folds"] == 5 and len(oof["doubtful_labels"]) == 12
    rows = [d["sample"] for d in oof["doubtful_labels"]]
    assert sum(i in set(flipped.tolist()) for i in rows) >= 10
    assert all(d["features"]["p10"] == x[d["sample"], 10] and d["true"] == str(y[d["sample"]])
               for d in oof["doubtful_labels"])  # the row it names is the row it shows
    assert {d["fold"] for d in oof["doubtful_labels"]} <= set(range(1, 6))
    assert "Labels doubted out of fold" in (r.path / "report.html").read_text()


def test_training_targets_corrupted_on_purpose_are_the_ones_fitted_worst(tmp_path):
    import trainlab
    from sklearn.datasets import load_diabetes
    from trainlab.core.config import parse_recipe
    from tests.conftest import recipe_dict

    x, y = load_diabetes(return_X_y=True)
    bad = np.random.default_rng(1).choice(len(y), 25, replace=False)
    y = y.copy()
    y[bad] = 900.0  # far above any real value (25-346)
    csv = tmp_path / "diabetes.csv"
    header = ",".join([f"x{i}" for i in range(10)] + ["id", "y"])
    np.savetxt(csv, np.column_stack([x, np.arange(len(y)), y]), fmt="%.8g", delimiter=",", header=header, comments="")
    r = trainlab.run(parse_recipe(recipe_dict(data={"name": "table", "path": str(csv), "label": "y", "group": "id"},
                                              task={"name": "regression"}, train={"epochs": 30})),
                     runs_dir=tmp_path, progress=False)
    res = r.metrics["test"]["residuals"]
    worst = res["training_largest"]
    assert res["training_checked"] == r.metrics["data"]["sizes"]["train"] and len(worst) == 10
    assert all(w["true"] == pytest.approx(900.0) and w["residual"] > 300 for w in worst[:8])
    assert set(worst[0]["features"]) == {f"x{i}" for i in range(10)}
