import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, mean_absolute_error, r2_score

from trainlab.evaluate.grouped import by_group
from trainlab.report.methods import group_sentence


def test_each_group_is_scored_once_by_its_samples_mean_probabilities():
    groups = np.array([7, 7, 7, 3, 3, 9, 9, 9, 9, 4, 4, 5, 5])
    true = np.array([0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 1, 2, 2])  # group 4 has two labels: left out
    probs = np.array([[.7, .3, 0], [.2, .8, 0], [.7, .3, 0],  # 7: mean 0.53 / 0.47 / 0 → class 0, right
                      [.1, .9, 0], [.95, .05, 0],             # 3: 0.525 / 0.475 → class 0, wrong
                      [.1, .9, 0], [.6, .4, 0], [.6, .4, 0], [.2, .8, 0],  # 9: 0.375 / 0.625 → 1, right
                      [.5, .5, 0], [.5, .5, 0],
                      [0, .45, .55], [0, .7, .3]])            # 5: 0 / 0.575 / 0.425 → class 1, wrong
    g = by_group(groups, true, probs, 3)
    assert g["groups"] == 4 and g["left_out"] == 1
    assert g["samples_per_group"] == {"median": 2.5, "smallest": 2, "largest": 4}
    group_true, group_pred = np.array([1, 2, 0, 1]), np.array([0, 1, 0, 1])  # groups 3, 5, 7, 9
    assert g["accuracy"] == 0.5
    assert g["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(group_true, group_pred))
    assert g["bootstrap"]["samples"] == 4 and g["bootstrap"]["accuracy"][0] <= 0.5 <= g["bootstrap"]["accuracy"][1]


def test_values_are_scored_per_group_by_the_mean_prediction_and_single_samples_are_not_groups():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(40), 5)
    target = rng.normal(size=40)
    pred = target[groups] + rng.normal(size=200)  # each prediction noisy, their mean far less so
    g = by_group(groups, target[groups], pred)
    means = pred.reshape(40, 5).mean(1)
    assert g["r2"] == pytest.approx(r2_score(target, means)) and g["mae"] == pytest.approx(mean_absolute_error(target, means))
    assert g["r2"] > r2_score(target[groups], pred) + 0.2
    assert by_group(np.arange(10), np.zeros(10), np.zeros(10)) is None
    mixed = by_group(np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1]), np.eye(2)[[0, 1, 0, 1]], 2)
    assert mixed == {"groups": 0, "left_out": 2, "too_few": True}
    metrics = {"test": {"by_group": mixed}, "spec": {"target": "class"}}
    assert group_sentence(metrics, {"window": 8}) == "Not scored per recording: each of the 2 test recordings holds windows " \
        "of more than one label."
    metrics["test"]["by_group"] = {**mixed, "groups": 1, "left_out": 1}
    assert group_sentence(metrics, {}).startswith("Too few test groups of one label (1)")
