import re

import numpy as np
import pytest

import trainlab
from trainlab.core.config import parse_recipe
from tests.conftest import recipe_dict

CLASS_SECTIONS = ["summary", "curves", "confusion", "perclass", "pr", "baselines", "repeats", "data", "recipe", "env"]


def _report(tmp_path, **sections):
    sections = {"report": {"html": True}, **sections}
    sections["eval"] = {"baselines": True, **sections.get("eval", {})}
    r = trainlab.run(parse_recipe(recipe_dict(**sections)),
                     runs_dir=tmp_path, progress=False)
    return r, (r.path / "report.html").read_text()


def _self_contained(html: str) -> None:
    assert not re.search(r'(src|href)="(https?:)?//', html)
    srcs = re.findall(r'<img src="([^"]+)"', html)
    assert srcs and all(s.startswith("data:image/png;base64,") and len(s) > 2000 for s in srcs)


def test_classification_report_has_every_section(tmp_path):
    r, html = _report(tmp_path, eval={"repeats": 3}, train={"epochs": 8})
    for section in CLASS_SECTIONS:
        assert f'id="{section}"' in html
    _self_contained(html)
    # learning curves, confusion matrix, PR curves, reliability, repeats; interpretation of a table model:
    # global ranking, one sample's attribution, PCA of the penultimate features
    assert html.count("<img") == 8
    assert "majority class" in html and "logistic regression" in html
    assert "95% interval" in html and "±" in html
    rep = r.metrics["repeats"]["test"]["accuracy"]
    assert rep["n"] == 3 and rep["ci95"][0] <= rep["mean"] <= rep["ci95"][1]
    logistic = r.metrics["repeats"]["baselines"]["logistic regression"]
    assert logistic["accuracy"]["n"] == 3
    # the network against the baseline over the same three splits: a paired t-test, told in the report
    diff = np.subtract(rep["values"], logistic["accuracy"]["values"])
    assert logistic["paired"]["mean_difference"] == pytest.approx(diff.mean())
    best = max(r.metrics["baselines"]["models"].items(), key=lambda kv: kv[1]["accuracy"])[0]
    assert "paired t-test over the split seeds, " in html and f"Against {best}, the best baseline" in html
    assert "The best single feature is" in html  # iris is a table: a tree on its most telling column
    assert (r.path / "repeat-1" / "result.json").is_file() and (r.path / "repeat-2" / "checkpoints" / "best.json").is_file()


def test_k_fold_cross_validation_tests_each_sample_once_and_says_so(tmp_path):
    import json

    r, html = _report(tmp_path, eval={"folds": 3}, train={"epochs": 3})
    assert r.metrics["repeats"]["folds"] == 3 and r.metrics["repeats"]["seeds"] == [0, 1, 2]
    tested = [json.loads((r.path / (f"repeat-{i}" if i else "") / "result.json").read_text())["data"]["sizes"]["test"]
              for i in range(3)]
    assert tested == [50, 50, 50]  # iris: 150 samples, each tested once
    assert "3-fold cross-validation" in html and "mean ± std over 3 folds" in html
    text = _methods(html)
    acc = r.metrics["repeats"]["test"]["accuracy"]
    assert "3-fold cross-validation stratified by class (folds drawn with seed 0)" in text
    assert f"accuracy {acc['mean']:.4f} ± {acc['std']:.4f}" in text and acc["ci95"][1] <= 1.0
    assert "Training of the first fold took" in text
    assert "logistic regression (C chosen on each validation split)" in text  # each fold tuned its own


def _methods(html: str) -> str:
    """The report's methods paragraphs as plain text."""
    import html as h

    block = re.search(r'<div class="methods">(.*?)</div>', html, re.S).group(1)
    return h.unescape(re.sub(r"<[^>]+>", " ", block))


def test_the_methods_text_says_what_was_done_with_the_runs_numbers(tmp_path):
    r, html = _report(tmp_path, data={"name": "diabetes"}, model={"name": "mlp", "hidden": [12]},
                      optim={"name": "sgd", "lr": 0.02, "momentum": 0.9}, schedule={"name": "cosine"},
                      train={"epochs": 4, "l2": 0.001, "early_stopping": {"patience": 2}})
    text, fit = _methods(html), r.metrics["fit"]
    sizes = r.metrics["data"]["sizes"]
    assert f"a split into {sizes['train']} training, {sizes['val']} validation and {sizes['test']} test samples" in text
    assert "stratified" not in text  # a real target is not stratified
    assert (f"a multilayer perceptron (hidden = [12], activation = relu), {fit['parameters']:,} parameters, trained "
            "with stochastic gradient descent (lr = 0.02, momentum = 0.9) on mini-batches of 16 to minimise the mean "
            "squared error on standardised targets under a cosine learning-rate schedule with L2 penalty 0.001") in text
    assert f"at most 4 epochs, stopping after 2 epochs without improvement" in text
    assert f"(epoch {fit['best_epoch']} of {fit['epochs_run']})" in text
    lo, hi = r.metrics["test"]["bootstrap"]["r2"]
    assert f"r2 {r.metrics['test']['r2']:.4f} (95% bootstrap interval {lo:.4f}-{hi:.4f})" in text
    assert "95% bootstrap intervals over the 45 test samples" in html
    ridge = r.metrics["baselines"]["models"]["ridge regression"]
    alpha = ridge["tuned"]["value"]  # its regularisation chosen on the validation split, strongest first
    assert ridge["tuned"]["tried"][0][0] == 100 and alpha in (100, 10, 1, 0.1)
    assert f"ridge regression (alpha = {alpha:g}, chosen on the validation split) {ridge['r2']:.4f}" in text
    # the paired test on the same 45 test samples: which model is closer on each, and Wilcoxon's p
    t = ridge["paired"]
    assert 0 < t["network_only"] + t["baseline_only"] <= 45 and 0 <= t["p_value"] <= 1
    assert (f"Wilcoxon's signed-rank test on absolute errors ({t['network_only']} test samples closer for the network, "
            f"{t['baseline_only']} for the baseline)") in text


def test_regression_report(tmp_path):
    r, html = _report(tmp_path, data={"name": "diabetes"}, train={"epochs": 5})
    for section in ("summary", "curves", "scatter", "baselines", "data", "recipe", "env"):
        assert f'id="{section}"' in html
    assert "ridge regression" in html and "r2" in html
    _self_contained(html)
    assert {"r2", "rmse", "mae", "mse"} <= set(r.metrics["test"])


def test_a_categorical_columns_importance_is_the_sum_over_its_one_hot_features():
    from trainlab.report.html import _by_column

    names, values = _by_column(["age", "site=east", "site=north", "dose"], [0.4, 0.1, 0.25, 0.2],
                               {"site": ["east", "north"]})
    assert names == ["age", "site", "dose"] and values == pytest.approx([0.4, 0.35, 0.2])
