import pytest

import trainlab
from trainlab.core.config import parse_recipe
from trainlab.report.compare import compare_page, significance
from trainlab.report.index import list_runs
from tests.conftest import recipe_dict


def test_significance_paired_and_direction():
    a = {"test": {"accuracy": 0.9}, "repeats": {"seeds": [0, 1, 2, 3], "test": {"accuracy": {"values": [0.90, 0.91, 0.92, 0.93]}}}}
    b = {"test": {"accuracy": 0.8}, "repeats": {"seeds": [0, 1, 2, 3], "test": {"accuracy": {"values": [0.80, 0.82, 0.81, 0.83]}}}}
    t = significance(a, b, "accuracy")
    assert t["better"] == 0 and t["test"].startswith("paired") and t["significant"] and t["mean_difference"] == pytest.approx(0.1)
    folds = {**a, "repeats": {**a["repeats"], "folds": 4}}  # the same seeds, but as folds: other test sets
    assert significance(folds, b, "accuracy")["test"].startswith("Welch")
    assert significance(folds, {**b, "repeats": {**b["repeats"], "folds": 4}}, "accuracy")["test"] == "paired t-test over the same folds"
    t = significance({"test": {"loss": 0.3}}, {"test": {"loss": 0.2}}, "loss")
    assert t["better"] == 1 and t["p_value"] is None and "--repeats" in t["note"]


def test_runs_are_indexed_and_compared(tmp_path):
    small = recipe_dict(train={"epochs": 3}, eval={"baselines": False, "repeats": 3})
    a = trainlab.run(parse_recipe(small), runs_dir=tmp_path, progress=False)
    b = trainlab.run(parse_recipe({**small, "name": "other", "model": {"name": "mlp", "hidden": [2]}}), runs_dir=tmp_path,
                     progress=False)
    rows = list_runs(tmp_path)
    assert [r["name"] for r in rows] == ["other", "t"] and all(r["status"] == "finished" for r in rows)
    assert rows[1]["metric"] == pytest.approx(a.metrics["repeats"]["test"]["accuracy"]["mean"]) and rows[1]["repeats"] == 3
    assert [r["name"] for r in list_runs(tmp_path, ["name~oth"])] == ["other"]
    assert list_runs(tmp_path, ["status=failed"]) == []
    html = compare_page([a, b], tmp_path / "c.html").read_text()
    assert "paired t-test" in html.lower() and "hidden" in html and "data:image/png;base64," in html


def test_single_runs_on_the_same_test_samples_are_compared_sample_by_sample(tmp_path):
    import numpy as np

    from trainlab.report.compare import against_first

    small = recipe_dict(data={"name": "digits"}, train={"epochs": 3})
    a = trainlab.run(parse_recipe(small), runs_dir=tmp_path, progress=False)
    b = trainlab.run(parse_recipe({**small, "model": {"name": "mlp", "hidden": [4]}}), runs_dir=tmp_path, progress=False)
    c = trainlab.run(parse_recipe({**small, "seed": 1}), runs_dir=tmp_path, progress=False)  # another split
    assert a.metrics["data"]["test_digest"] == b.metrics["data"]["test_digest"] != c.metrics["data"]["test_digest"]
    with np.load(a.path / "test_predictions.npz") as pa, np.load(b.path / "test_predictions.npz") as pb:
        assert (pa["pred"] == pa["true"]).mean() == pytest.approx(a.metrics["test"]["accuracy"])
        only = [int(((pa["pred"] == pa["true"]) & (pb["pred"] != pb["true"])).sum()),
                int(((pa["pred"] != pa["true"]) & (pb["pred"] == pb["true"])).sum())]
    same, other = against_first([a, b, c], "accuracy")
    assert same["test"] == "McNemar's exact test on the same 180 test samples" and same["only"] == only
    assert other["test"] is None and "tested on different samples" in other["note"]


def test_runs_whose_test_samples_come_in_groups_are_compared_over_whole_groups(tmp_path):
    """Digits in groups of 6 (say, one writer's): the saved predictions keep each test sample's group,
    and the paired test between two runs is the sign-flip test over those groups, not McNemar's."""
    import numpy as np
    from sklearn.datasets import load_digits

    from trainlab.evaluate.baselines import paired_test
    from trainlab.report.compare import against_first

    x, y = load_digits(return_X_y=True)
    np.savez(tmp_path / "digits.npz", x=x[:600].astype(np.float32), y=y[:600], writer=np.arange(600) // 6)
    small = recipe_dict(data={"name": "arrays", "path": str(tmp_path / "digits.npz"), "groups": "writer"},
                        train={"epochs": 3})
    a = trainlab.run(parse_recipe(small), runs_dir=tmp_path, progress=False)
    b = trainlab.run(parse_recipe({**small, "model": {"name": "mlp", "hidden": [4]}}), runs_dir=tmp_path, progress=False)
    with np.load(a.path / "test_predictions.npz") as pa, np.load(b.path / "test_predictions.npz") as pb:
        groups = pa["groups"]
        assert len(groups) == len(pa["true"]) == a.metrics["data"]["sizes"]["test"]
        assert np.all(np.bincount(groups)[np.unique(groups)] == 6)  # whole writers in the test split
        expected = paired_test(pa["true"], pa["pred"], pb["pred"], True, groups)
    (same,) = against_first([a, b], "accuracy")
    g = len(np.unique(groups))
    assert same["test"] == f"a sign-flip test over whole test groups ({g} of them) on the same {len(groups)} test samples"
    assert same["p_value"] == expected["p_value"] and expected["groups"] == g
    assert same["only"] == [expected["network_only"], expected["baseline_only"]] and sum(same["only"]) > 0
