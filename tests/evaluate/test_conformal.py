"""eval.conformal: intervals or sets fitted on held-out samples (the calibration split, or the validation
split) reach their coverage on new samples, and predict gives them with every prediction."""
import numpy as np
import pytest

import trainlab
from trainlab.evaluate.conformal import fit_classes, fit_values


def test_intervals_and_sets_reach_their_coverage_on_exchangeable_samples():
    rng = np.random.default_rng(0)
    true = rng.normal(size=6000)
    pred = true + rng.standard_t(3, size=6000)  # heavy-tailed errors: no normal interval would do
    c = fit_values(true[:1000], pred[:1000], true[1000:], pred[1000:], 0.9)
    assert c["test_coverage"] == pytest.approx(0.9, abs=0.015) and c["mean_width"] == 2 * c["half_width"]
    assert c["half_width"] == np.sort(np.abs(true[:1000] - pred[:1000]))[900]  # the ⌈1001 · 0.9⌉ = 901st smallest
    logits = rng.normal(size=(6000, 5)) * 2
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    y = np.array([rng.choice(5, p=p) for p in probs])  # labels drawn from the model's own probabilities
    s = fit_classes(probs[:1000], y[:1000], probs[1000:], y[1000:], 0.8)
    assert s["test_coverage"] == pytest.approx(0.8, abs=0.02) and 1 < s["mean_set_size"] < 5
    assert fit_values(true[:5], pred[:5], true, pred, 0.9) == {"coverage": 0.9, "fitted_on": "validation", "samples": 5,
                                                               "too_few": True}


def test_a_run_reports_its_coverage_and_predict_gives_intervals_and_sets(tmp_path):
    r = trainlab.run(trainlab.load_recipe("recipes/regression-diabetes.toml"), ["eval.conformal=0.8",
                                                                                  "report.html=false"],
                     runs_dir=tmp_path, progress=False)
    c = r.metrics["test"]["conformal"]
    assert c["samples"] == r.metrics["data"]["sizes"]["val"] and c["coverage"] == 0.8 and c["fitted_on"] == "validation"
    assert 0.6 < r.metrics["test"]["conformal_coverage"] == c["test_coverage"] <= 1
    from trainlab.report.methods import methods_text
    from trainlab.serve.predictor import Predictor

    p = Predictor(r.path)
    out = p.predict(np.zeros((1, 10)))  # the average patient (diabetes' features are centred)
    (lo, hi), v = out["intervals"][0], out["values"][0]
    assert out["coverage"] == 0.8 and lo < v < hi and hi - lo == pytest.approx(2 * c["half_width"])

    k = trainlab.run(trainlab.load_recipe("recipes/binary-breast-cancer.toml"), ["eval.conformal=0.95",
                                                                                   "eval.conformal_by_class=true",
                                                                                   "report.html=false"],
                     runs_dir=tmp_path, progress=False)
    sets = Predictor(k.path).predict(np.zeros((3, 30)))
    assert len(sets["prediction_sets"]) == 3 and all(set(s) <= {"malignant", "benign"} for s in sets["prediction_sets"])
    c = k.metrics["test"]["conformal"]
    assert c["mean_set_size"] >= 1 - c["empty"] and c["by_class"] and len(c["min_probability"]) == 2
    assert len(c["class_coverage"]) == 2 and "class by class, Mondrian" in " ".join(
        methods_text(k.recipe, k.metrics, {}))


def test_a_calibration_split_fits_the_intervals_and_is_named_in_the_methods(tmp_path):
    from trainlab.core.errors import RecipeError
    from trainlab.report.methods import methods_text

    recipe = trainlab.load_recipe("recipes/regression-diabetes.toml")
    r = trainlab.run(recipe, ["eval.conformal=0.8", "data.calibration_fraction=0.2", "report.html=false"],
                     runs_dir=tmp_path, progress=False)
    c, sizes = r.metrics["test"]["conformal"], r.metrics["data"]["sizes"]
    assert c["fitted_on"] == "calibration" and c["samples"] == sizes["calibration"] == pytest.approx(0.2 * 442, abs=2)
    assert 0.6 < c["test_coverage"] <= 1
    text = " ".join(methods_text(r.recipe, r.metrics, {}))
    assert f"a further {sizes['calibration']} samples were held out from the training split as a calibration split" in text
    assert f"fitted on the {sizes['calibration']} calibration samples, held out from training and from choosing" in text
    with pytest.raises(RecipeError, match="asks for neither"):  # samples held out for nothing
        trainlab.run(recipe, ["data.calibration_fraction=0.2"], runs_dir=tmp_path, progress=False)
    with pytest.raises(RecipeError, match="conformal_by_class .* needs classes"):  # values have no classes
        trainlab.run(recipe, ["eval.conformal=0.9", "eval.conformal_by_class=true"], runs_dir=tmp_path, progress=False)


def test_a_hard_class_is_covered_less_unless_each_class_gets_its_own_threshold(tmp_path):
    rng = np.random.default_rng(1)
    n = 8000
    y = rng.integers(0, 4, n)
    sharp = np.where(y[:, None] == 3, 0.3, 4.0)  # class 3 is hard: the model is unsure whenever the truth is 3
    logits = rng.normal(size=(n, 4)) + sharp * np.eye(4)[y]
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    fit, test = slice(0, 3000), slice(3000, None)
    plain = fit_classes(probs[fit], y[fit], probs[test], y[test], 0.9)
    mondrian = fit_classes(probs[fit], y[fit], probs[test], y[test], 0.9, by_class=True)
    assert plain["test_coverage"] == pytest.approx(0.9, abs=0.02) and plain["class_coverage"][3] < 0.75
    assert all(c == pytest.approx(0.9, abs=0.03) for c in mondrian["class_coverage"])  # every class as asked
    assert len(mondrian["min_probability"]) == 4 and min(mondrian["min_probability"]) == mondrian["min_probability"][3]
    from trainlab.evaluate.conformal import sentence, sets

    said = sentence(plain, ["a", "b", "c", "d"])
    assert f"the class covered least, d, {plain['class_coverage'][3]:.1%} (eval.conformal_by_class" in said
    assert "class by class, Mondrian: from" in sentence(mondrian, ["a", "b", "c", "d"])
    got = sets(mondrian, probs[test][:50], ["a", "b", "c", "d"])  # what predict and serve return
    keep = probs[test][:50] >= np.array(mondrian["min_probability"])
    assert got == [[n for n, k in zip("abcd", row) if k] for row in keep]
    few = fit_classes(probs[:20], y[:20], probs[test], y[test], 0.9, by_class=True)  # ~5 samples a class: too few
    assert set(few["always_in_set"]) == {0, 1, 2, 3} and few["test_coverage"] == 1.0


def test_each_regression_target_gets_its_own_interval(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3000, 3)).astype(np.float32)
    y = np.stack([x[:, 0] + 0.1 * rng.normal(size=3000), x[:, 1] + 2.0 * rng.normal(size=3000)], 1)  # one noisy
    np.savez(tmp_path / "two.npz", x=x, y=y.astype(np.float32))
    recipe = {"name": "two", "data": {"name": "arrays", "path": str(tmp_path / "two.npz"), "calibration_fraction": 0.2},
              "model": {"name": "mlp", "hidden": [16]}, "optim": {"name": "adam", "lr": 0.01},
              "train": {"epochs": 15, "batch_size": 64}, "eval": {"conformal": 0.9, "baselines": False},
              "report": {"html": False, "interpret": False}}
    from trainlab.core.config import parse_recipe

    r = trainlab.run(parse_recipe(recipe), runs_dir=tmp_path, progress=False)
    c = r.metrics["test"]["conformal"]
    (narrow, wide), covered = c["half_width"], c["target_coverage"]
    assert 0.1 < narrow < 0.5 < 2.5 < wide < 4.5  # each target's own noise: ± 1.645 σ at 90%
    assert all(v == pytest.approx(0.9, abs=0.05) for v in covered) and c["test_coverage"] == pytest.approx(np.mean(covered))
    from trainlab.serve.predictor import Predictor

    out = Predictor(r.path).predict(np.zeros((2, 3), np.float32))
    assert np.shape(out["intervals"]) == (2, 2, 2) and out["intervals"][0][1][1] - out["intervals"][0][1][0] == \
        pytest.approx(2 * wide)
    from trainlab.evaluate.conformal import sentence

    assert "each target its own: target 1 ± " in sentence(c)
