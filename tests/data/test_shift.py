"""A test set not drawn at random from the data (official, latest, other groups) is checked for inputs that
differ from the training ones: a classifier that tells the two apart, and for tables each column's test."""
import re

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_digits

import trainlab
from tests.conftest import FASHION
from trainlab.data import shift


def test_a_random_half_is_like_the_rest_and_a_column_measured_otherwise_is_named():
    d = load_breast_cancer()
    x = d.data[np.random.default_rng(0).permutation(len(d.data))]
    same = shift.check(x[:400], x[400:], "table", "official", d.feature_names)
    assert not same["differ"] and 0.4 < same["auc"] < 0.6 and same["interval"][0] < 0.5 < same["interval"][1]
    assert same["samples"]["train"] + same["samples"]["test"] == pytest.approx(569 / 2, abs=1)  # scored on one half

    other = x[400:].copy()
    other[:, 3] *= 1.3  # "mean area", measured by another instrument
    moved = shift.check(x[:400], other, "table", "official", d.feature_names)
    assert moved["differ"] and moved["columns"][0]["feature"] == "mean area" and moved["columns"][0]["p_holm"] < 0.01
    assert moved["columns"][0]["test_mean"] == pytest.approx(1.3 * x[400:, 3].mean())
    from trainlab.report.methods import shift_sentence

    said = shift_sentence(moved)
    assert said.startswith("The test inputs (the dataset's official test set) differ from the training inputs: a linear "
                           "classifier fitted on half of the samples told the other half's") and "mean area (mean " in said
    assert shift_sentence(same).startswith("No clear sign that the test inputs")


def test_under_no_difference_it_warns_about_as_often_as_it_should():
    x = load_digits().data
    flagged = [shift.check(x[p[:1200]], x[p[1200:]], "table", "official", seed=s)["differ"]
               for s in range(40) for p in [np.random.default_rng(s).permutation(len(x))]]
    assert sum(flagged) <= 3  # at most 1% expected per check, a Kolmogorov-Smirnov test per column apart


def test_brighter_images_differ_and_whole_groups_are_kept_in_one_half():
    digits = load_digits().images.astype(np.float32)  # (1797, 8, 8), 0..16
    # in the file's order its last third differs (another set of writers, as UCI's optdigits splits them)
    assert shift.check(digits[:1200], digits[1200:], "image", "official")["auc"] > 0.6
    digits = digits[np.random.default_rng(0).permutation(len(digits))]
    alike = shift.check(digits[:1200], digits[1200:], "image", "official")
    brighter = shift.check(digits[:1200], digits[1200:] * 1.15 + 0.5, "image", "official")
    assert not alike["differ"] and brighter["differ"] and brighter["auc"] > 0.8
    assert brighter["pixels"]["test_mean"] > brighter["pixels"]["train_mean"]

    # each patient's measurements carry that patient's offset; the groups are split at random: a classifier
    # that recognises a test patient in the other half would find a difference that is not there
    rng = np.random.default_rng(0)
    patient = np.repeat(np.arange(100), 20)
    x = rng.normal(size=(100, 6))[patient] * 3 + rng.normal(size=(2000, 6))
    test_patients = np.isin(patient, rng.choice(100, 30, replace=False))
    groups = (patient[~test_patients], patient[test_patients])
    kept = shift.check(x[~test_patients], x[test_patients], "table", "groups", groups=groups)
    mixed = shift.check(x[~test_patients], x[test_patients], "table", "groups")
    assert kept["unit"] == "groups" and not kept["differ"] and mixed["differ"]
    assert kept["samples"]["train"] + kept["samples"]["test"] == 50  # half of the 100 patients
    other = x.copy()
    other[test_patients, 2] += 6  # the test patients measured otherwise (2 σ of the patients): found
    assert shift.check(other[~test_patients], other[test_patients], "table", "groups", groups=groups)["differ"]


def test_a_run_on_an_official_test_set_from_another_scanner_says_it_and_a_random_split_is_not_checked(tmp_path):
    d = load_digits()
    order = np.random.default_rng(0).permutation(len(d.target))
    x, y = d.images[order].astype(np.float32), d.target[order]
    np.savez(tmp_path / "a.npz", x=x[:1400], y=y[:1400], x_test=x[1400:] * 1.2 + 1, y_test=y[1400:])
    r = trainlab.run(tmp_path / "a.npz", ["train.epochs=3", "report.html=false", "report.interpret=false",
                                          "eval.baselines=false"], runs_dir=tmp_path / "runs", progress=False)
    s = r.metrics["data"]["shift"]
    assert s["why"] == "official" and s["differ"] and s["auc"] > 0.8
    from trainlab.report.methods import methods_text

    assert "The test inputs (the dataset's official test set) differ from the training inputs" in \
        " ".join(methods_text(r.recipe, r.metrics, {}))
    np.savez(tmp_path / "b.npz", x=x, y=y)
    r = trainlab.run(tmp_path / "b.npz", ["train.epochs=1", "report.html=false", "report.interpret=false",
                                          "eval.baselines=false"], runs_dir=tmp_path / "runs", progress=False)
    assert "shift" not in r.metrics["data"]  # a random split is alike by construction


@pytest.mark.skipif(not FASHION.is_dir(), reason="needs Debian's dataset-fashion-mnist")
def test_fashion_mnists_official_test_set_is_like_its_training_set():
    from trainlab.data.prepare import load_raw

    raw = load_raw("fashion_mnist", {})
    s = shift.check(raw.x, raw.x_test, "image", "official")
    assert not s["differ"] and abs(s["auc"] - 0.5) < 0.02 and s["samples"]["test"] > 4000


def test_an_official_test_set_whose_classes_come_in_other_proportions_is_said_to(tmp_path):
    from trainlab.data.prepare import load_raw, prepare
    from trainlab.report.methods import shift_sentence, shift_warns

    d = load_digits()
    order = np.random.default_rng(1).permutation(len(d.target))
    x, y = d.data[order], d.target[order]
    rare = np.flatnonzero(y[1400:] != 3)[:300] + 1400  # the test set keeps few 3s
    np.savez(tmp_path / "a.npz", x=x[:1400], y=y[:1400], x_test=x[rare], y_test=y[rare])
    s = prepare(load_raw("arrays", {"path": str(tmp_path / "a.npz")}), val_fraction=0.1, test_fraction=0.1,
                stratify=True, normalize="standard", seed=0).summary["shift"]
    c = s["classes"]
    assert c["differ"] and c["most_changed"]["class"] == "3" and c["most_changed"]["test_share"] == 0.0
    assert 0.09 < c["most_changed"]["train_share"] < 0.11 and not s["differ"]  # the inputs alike otherwise
    said = shift_sentence(s)
    assert shift_warns(s) and said.startswith("No clear sign that the test inputs") and \
        "The test set's classes come in other proportions than in training (χ² test on the class counts, p = " in said
    same = shift.classes(y[:1400], y[1400:], [str(c) for c in range(10)])
    assert not same["differ"] and same["p_value"] > 0.05
    assert shift_sentence({"why": "official", "classes": c}).startswith(
        "The classes of the test set (the dataset's official test set) come in other proportions")  # texts: no inputs


def test_with_groups_the_groups_classes_are_counted_not_their_samples():
    """100 recordings of 12 windows each, 10 in the test set: 120 test windows would make a change of
    proportions look certain; 10 recordings do not."""
    y_groups = np.r_[np.tile([0, 1], 45), [0] * 7 + [1] * 3]
    groups = np.arange(100).repeat(12)
    y = y_groups[groups]
    train, test = groups < 90, groups >= 90
    by_window = shift.classes(y[train], y[test], ["a", "b"])
    by_group = shift.classes(y[train], y[test], ["a", "b"], (groups[train], groups[test]))
    assert by_window["differ"] and by_window["p_value"] < 0.01 and by_window["unit"] == "samples"
    assert not by_group["differ"] and by_group["p_value"] > 0.1 and by_group["unit"] == "groups"
    m = by_group["most_changed"]  # (a and b both moved by 20 points)
    assert m["train_share"] == 0.5 and m["test_share"] == pytest.approx(0.7 if m["class"] == "a" else 0.3)
    mixed = y.copy()
    mixed[-1] = 0 if mixed[-1] else 1  # a test recording whose windows differ in class: no class to count it by
    assert shift.classes(y[train], mixed[test], ["a", "b"], (groups[train], groups[test])) is None


def test_reviews_whose_test_set_uses_adjectives_training_never_saw_are_said_to_differ_and_random_halves_not():
    from trainlab.data.datasets import sentiment_demo
    from trainlab.data.prepare import prepare
    from trainlab.report.methods import shift_sentence, shift_warns

    raw = sentiment_demo(n=1500, unseen_words=True)
    s = prepare(raw, val_fraction=0.1, test_fraction=0.1, stratify=True, normalize="none", seed=0).summary["shift"]
    top = s["words"][0]
    assert s["differ"] and s["auc"] > 0.9 and top["train_share"] == 0.0 and top["test_share"] > 0.05
    assert top["feature"] not in re.findall(r"\w+", " ".join(raw.x).lower())  # a word training never uses
    assert s["words_per_text"]["train_mean"] == pytest.approx(s["words_per_text"]["test_mean"], rel=0.2)
    said = shift_sentence(s)
    assert shift_warns(s) and said.startswith("The test inputs (the dataset's official test set) differ") and \
        f"'{top['feature']}' (0.0% of the texts in training, " in said
    alike = shift.check(raw.x[:1200], raw.x[1200:], "text", "official")
    assert not alike["differ"] and abs(alike["auc"] - 0.5) < 0.07
    assert all(w["p_holm"] > 0.01 for w in alike["words"])


def test_regression_targets_from_another_distribution_are_said_to_differ():
    from sklearn.datasets import load_diabetes

    from trainlab.report.methods import shift_sentence, shift_warns

    d = load_diabetes()
    heavy = np.argsort(d.data[:, 2])  # by body mass index: the heaviest patients tested
    t = shift.targets(d.target[heavy[:350]], d.target[heavy[350:]])
    m = t["most_changed"]
    assert t["differ"] and m["feature"] == "the target" and m["test_mean"] > m["train_mean"] + 50
    said = shift_sentence({"why": "time", "targets": t})
    assert shift_warns({"targets": t}) and said.startswith("The test set's targets come from another distribution "
                                                           "than in training (Kolmogorov-Smirnov D 0.") and "R²" in said
    order = np.random.default_rng(0).permutation(len(d.target))
    same = shift.targets(d.target[order[:350]], d.target[order[350:]])
    assert not same["differ"] and same["p_value"] > 0.05 and shift_sentence({"why": "time", "targets": same}) == ""
    two = shift.targets(np.c_[d.target, d.data[:, 2]][heavy[:350]], np.c_[d.target, d.data[:, 2]][heavy[350:]],
                        ["progression", "bmi"])
    assert two["most_changed"]["feature"] == "bmi" and two["most_changed"]["ks"] == 1.0  # (each test one is heavier)


def test_a_regression_split_in_time_order_has_its_targets_checked(tmp_path):
    import csv

    from sklearn.datasets import load_diabetes

    from trainlab.data.prepare import load_raw, prepare

    d = load_diabetes()
    visit = np.argsort(np.argsort(d.data[:, 2]))  # the heaviest patients came last
    with open(tmp_path / "d.csv", "w", newline="") as f:
        csv.writer(f).writerows([["visit", *d.feature_names, "progression"], *np.c_[visit, d.data, d.target]])
    raw = load_raw("table", {"path": str(tmp_path / "d.csv"), "label": "progression", "time": "visit"})
    s = prepare(raw, val_fraction=0.1, test_fraction=0.2, stratify=False, normalize="standard", seed=0).summary["shift"]
    assert s["why"] == "time" and s["differ"] and s["targets"]["differ"]
    assert s["targets"]["most_changed"]["test_mean"] > s["targets"]["most_changed"]["train_mean"] + 30
