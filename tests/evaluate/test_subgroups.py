"""data.subgroups: the test metrics per value of a column, merged over folds, with a test of whether they
differ; a site whose measurements are scrambled is found."""
import csv

import numpy as np
import pytest
from scipy import stats

import trainlab
from trainlab.core.errors import DataError
from trainlab.evaluate import subgroups


def test_the_tests_agree_with_scipy_and_folds_merge_to_the_whole():
    rng = np.random.default_rng(0)
    v = rng.choice(["a", "b", "c"], 300)
    true = rng.integers(0, 3, 300)
    pred = np.where(rng.random(300) < np.where(v == "c", 0.5, 0.8), true, (true + 1) % 3)
    whole = subgroups.statistics({"site": v}, true, pred, 3)
    halves = subgroups.merge([subgroups.statistics({"site": v[s]}, true[s], pred[s], 3)
                              for s in (slice(0, 140), slice(140, None))])
    assert halves == whole
    s = subgroups.summarise(whole, ["x", "y", "z"])["site"]
    table = [[int(((pred == true) & (v == g)).sum()), int(((pred != true) & (v == g)).sum())] for g in "abc"]
    assert s["test"]["p_value"] == pytest.approx(stats.chi2_contingency(table).pvalue)
    assert [r["accuracy"] for r in s["rows"]] == pytest.approx([np.mean(pred[v == g] == true[v == g]) for g in "abc"])
    assert s["rows"][2]["recall"]["y"] == pytest.approx(np.mean(pred[(v == "c") & (true == 1)] == 1))

    t = rng.normal(size=200)
    p = t + rng.normal(size=200) * np.where(v[:200] == "a", 2.0, 1.0)
    r = subgroups.summarise(subgroups.statistics({"site": v[:200]}, t, p, 0), None)["site"]
    errors = [np.abs(p - t)[v[:200] == g] for g in "abc"]
    assert r["test"]["p_value"] == pytest.approx(stats.f_oneway(*errors).pvalue)
    assert [x["mae"] for x in r["rows"]] == pytest.approx([e.mean() for e in errors])


def _tumours(path, scramble_site: str | None = None, many_sites: bool = False):
    """scikit-learn's breast cancer with a site per row and an age; at `scramble_site` every measurement
    is taken from another of its patients (a broken scanner), the labels kept."""
    from sklearn.datasets import load_breast_cancer

    b = load_breast_cancer()
    rng = np.random.default_rng(0)
    site = np.array([f"clinic {i}" if many_sites else ["north", "south", "east"][i % 3] for i in range(len(b.target))])
    x = b.data.copy()
    if scramble_site:
        rows = np.flatnonzero(site == scramble_site)
        x[rows] = x[rng.permutation(rows)]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([*b.feature_names, "site", "age", "diagnosis"])
        for xi, s, y in zip(x, site, b.target):
            w.writerow([*(f"{v:.6g}" for v in xi), s, int(rng.integers(30, 80)), b.target_names[y]])
    return path


def test_a_site_with_scrambled_measurements_is_found_over_the_folds(tmp_path):
    r = trainlab.run(_tumours(tmp_path / "t.csv", scramble_site="east"),
                     ["data.subgroups=['site', 'age']", "eval.folds=5", "train.epochs=40", "report.interpret=false",
                      "eval.baselines=false"], label="diagnosis", runs_dir=tmp_path / "runs", progress=False)
    sg = r.metrics["subgroups"]
    assert sg["folds"] == 5
    site = {row["value"]: row for row in sg["by"]["site"]["rows"]}
    assert sum(row["n"] for row in site.values()) == 569  # every sample, tested once
    assert site["east"]["accuracy"] < 0.85 < 0.9 < site["north"]["accuracy"] and site["south"]["accuracy"] > 0.9
    assert sg["by"]["site"]["test"]["p_value"] < 1e-3
    ps = [sg["by"][c]["test"]["p_value"] for c in ("site", "age")]  # two columns tested: Holm's correction
    low = min(2 * min(ps), 1)  # the smaller p doubled, the larger kept (and never below the first)
    assert [sg["by"][c]["test"]["p_holm"] for c in ("site", "age")] == pytest.approx(
        [low if p == min(ps) else max(low, p) for p in ps])
    ages = [row["value"] for row in sg["by"]["age"]["rows"]]
    assert len(ages) == 4 and ages[0].startswith("30-")  # quartiles, in order
    said = subgroups.sentence("site", sg["by"]["site"], 5)
    assert "over all 5 folds' test samples" in said and "differs between the values more than chance" in said
    assert "(Holm-adjusted over the columns: p = " in said
    html = (r.path / "report.html").read_text()
    assert "Subgroups: does it work as well for everyone?" in html and "recall malignant" in html
    from trainlab.report.paper import write_paper

    write_paper(r.path, r.recipe, r.metrics, {}, "svg")  # the table for a paper
    rows = list(csv.DictReader(open(r.path / "paper" / "subgroups.csv")))
    east = next(row for row in rows if row["value"] == "east")
    assert (east["subgroup"], int(east["n"])) == ("site", 189) and float(east["accuracy"]) == site["east"]["accuracy"]
    assert float(east["p_value"]) == sg["by"]["site"]["test"]["p_value"] and "recall malignant" in east


def test_a_regression_by_subgroup_and_a_column_of_too_many_texts(tmp_path):
    from sklearn.datasets import load_diabetes

    d = load_diabetes()
    with open(tmp_path / "d.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([*d.feature_names, "sex_code", "progression"])
        w.writerows([*x, "F" if x[1] > 0 else "M", y] for x, y in zip(d.data, d.target))
    r = trainlab.run(tmp_path / "d.csv", ["data.subgroups=['sex_code']", "train.epochs=20", "report.html=false"],
                     label="progression", runs_dir=tmp_path / "runs", progress=False)
    by = r.metrics["subgroups"]["by"]["sex_code"]
    assert [row["value"] for row in by["rows"]] == ["F", "M"] and by["test"]["metric"] == "mae"
    assert sum(row["n"] for row in by["rows"]) == r.metrics["data"]["sizes"]["test"] and 0 <= by["test"]["p_value"] <= 1
    with pytest.raises(DataError, match="column 'site' holds 569 different texts; a subgroup is one of at most 20"):
        trainlab.run(_tumours(tmp_path / "m.csv", many_sites=True), ["data.subgroups=['site']"], label="diagnosis",
                     runs_dir=tmp_path / "bad", progress=False)
    assert not list((tmp_path / "bad").glob("*/recipe.toml"))


def test_arrays_with_an_official_test_set_take_subgroups_with_their_test_values(tmp_path):
    from sklearn.datasets import load_digits

    d = load_digits()
    x, y = d.data.astype(np.float32), d.target
    scanner = np.where(np.arange(len(y)) % 2, "old", "new")
    np.savez(tmp_path / "a.npz", x=x[:1400], y=y[:1400], x_test=x[1400:], y_test=y[1400:], scanner=scanner[:1400],
             scanner_test=scanner[1400:])
    r = trainlab.run(tmp_path / "a.npz", ["data.subgroups=['scanner']", "train.epochs=5", "report.html=false",
                                          "eval.baselines=false"], runs_dir=tmp_path / "runs", progress=False)
    rows = r.metrics["subgroups"]["by"]["scanner"]["rows"]
    assert [(row["value"], row["n"]) for row in rows] == [("new", 199), ("old", 198)]
    np.savez(tmp_path / "b.npz", x=x[:1400], y=y[:1400], x_test=x[1400:], y_test=y[1400:], scanner=scanner[:1400])
    with pytest.raises(DataError, match="subgroup 'scanner' needs 'scanner_test' too"):
        trainlab.run(tmp_path / "b.npz", ["data.subgroups=['scanner']"], runs_dir=tmp_path / "bad", progress=False)


def test_image_folders_take_subgroups_from_file_names(tmp_path):
    """train/ and test/ folders; the scanner is in each file's name (scan3_old.png)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for part, n in (("train", 30), ("test", 10)):
        for c, shade in (("dark", 60), ("light", 190)):
            (tmp_path / "imgs" / part / c).mkdir(parents=True)
            for i in range(n):
                img = np.clip(rng.normal(shade, 40, (8, 8)), 0, 255).astype(np.uint8)
                Image.fromarray(img).save(tmp_path / "imgs" / part / c / f"scan{i}_{'old' if i % 2 else 'new'}.png")
    r = trainlab.run(tmp_path / "imgs", ["data.channels=1", "model.name='mlp'", "train.epochs=3", "report.html=false",
                                         "data.subgroups={scanner='_(old|new)\\.png$'}", "report.interpret=false"],
                     runs_dir=tmp_path / "runs", progress=False)
    rows = r.metrics["subgroups"]["by"]["scanner"]["rows"]
    assert [(row["value"], row["n"]) for row in rows] == [("new", 10), ("old", 10)]  # the 20 official test images
    with pytest.raises(DataError, match="data.subgroups.scanner = 'x_' does not match the file name"):
        trainlab.run(tmp_path / "imgs", ["data.channels=1", "data.subgroups={scanner='x_'}"], runs_dir=tmp_path / "bad",
                     progress=False)


def test_with_several_targets_each_is_a_subgroup_column_and_residuals_and_own_metrics_see_every_target(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1500, 3)).astype(np.float32)
    site = np.where(np.arange(1500) % 2, "a", "b")
    noise = np.where(site == "b", 3.0, 0.3)  # the second target is much noisier at site b; the first is not
    y = np.stack([x[:, 0] + 0.1 * rng.normal(size=1500), 10 * x[:, 1] + noise * rng.normal(size=1500)], 1)
    np.savez(tmp_path / "two.npz", x=x, y=y.astype(np.float32), site=site)
    (tmp_path / "m.py").write_text('''import numpy as np
import trainlab

@trainlab.register_metric("second_mae", higher_is_better=False)
def second_mae(true, pred, scores):
    return float(np.abs(true[:, 1] - pred[:, 1]).mean())  # (N, T): every target
''')
    from trainlab.core.config import to_toml

    (tmp_path / "r.toml").write_text(to_toml({
        "plugins": ["m.py"], "data": {"name": "arrays", "path": str(tmp_path / "two.npz"), "subgroups": ["site"]},
        "model": {"name": "mlp", "hidden": [16]}, "optim": {"name": "adam", "lr": 0.01}, "train": {"epochs": 15},
        "eval": {"metrics": ["second_mae"]}, "report": {"interpret": False}}))
    r = trainlab.run(tmp_path / "r.toml", runs_dir=tmp_path / "runs", progress=False)
    test = r.metrics["test"]
    by = r.metrics["subgroups"]["by"]
    assert set(by) == {"site, target 1", "site, target 2"}
    assert by["site, target 1"]["test"]["p_holm"] > 0.01 and by["site, target 2"]["test"]["p_holm"] < 1e-6
    (a1, b1), (a2, b2) = ([row["mae"] for row in by[k]["rows"]] for k in ("site, target 1", "site, target 2"))
    assert b2 > 4 * a2 and 0.5 < b1 / a1 < 2

    kept = np.load(r.path / "test_predictions.npz")
    true, pred = kept["true"], kept["pred"]
    assert true.shape == (150, 2) and test["second_mae"] == pytest.approx(np.abs(true[:, 1] - pred[:, 1]).mean(), rel=1e-5)
    lo, hi = test["bootstrap"]["second_mae"]
    assert lo < test["second_mae"] < hi
    assert r.metrics["baselines"]["models"]["ridge regression"]["second_mae"] > 0

    res = test["residuals"]
    assert len(res["residual_mean"]) == len(res["residual_std"]) == 2 and len(res["largest"][0]["residual"]) == 2
    worst = res["largest"][0]
    spread = np.abs(true - pred) / true.std(0)
    assert spread[worst["index"]].sum() == pytest.approx(spread.sum(1).max(), rel=1e-5)  # in units of each spread
    assert worst["true"] == pytest.approx(true[worst["index"]].tolist(), rel=1e-5)
    html = (r.path / "report.html").read_text()
    assert "By site, target 2 (mae, test set)" in html and f"{worst['residual'][0]:.4f}, {worst['residual'][1]:.4f}" in html
