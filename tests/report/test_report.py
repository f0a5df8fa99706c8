import re

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
    assert r.metrics["repeats"]["baselines"]["logistic regression"]["accuracy"]["n"] == 3
    assert (r.path / "repeat-1" / "result.json").is_file() and (r.path / "repeat-2" / "checkpoints" / "best.json").is_file()


def test_k_fold_cross_validation_tests_each_sample_once_and_says_so(tmp_path):
    import json

    r, html = _report(tmp_path, eval={"folds": 3}, train={"epochs": 3})
    assert r.metrics["repeats"]["folds"] == 3 and r.metrics["repeats"]["seeds"] == [0, 1, 2]
    tested = [json.loads((r.path / (f"repeat-{i}" if i else "") / "result.json").read_text())["data"]["sizes"]["test"]
              for i in range(3)]
    assert tested == [50, 50, 50]  # iris: 150 samples, each tested once
    assert "3-fold cross-validation" in html and "mean ± std over 3 folds" in html


def test_regression_report(tmp_path):
    r, html = _report(tmp_path, data={"name": "diabetes"}, train={"epochs": 5})
    for section in ("summary", "curves", "scatter", "baselines", "data", "recipe", "env"):
        assert f'id="{section}"' in html
    assert "ridge regression" in html and "r2" in html
    _self_contained(html)
    assert {"r2", "rmse", "mae", "mse"} <= set(r.metrics["test"])
