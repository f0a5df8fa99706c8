import numpy as np
import pytest
from sklearn.metrics import (balanced_accuracy_score, cohen_kappa_score, f1_score, matthews_corrcoef, mean_absolute_error,
                             mean_squared_error, r2_score)

from trainlab.evaluate.robustness import aggregate, auc_interval, bootstrap


def _percentiles(true, pred, metric, resamples, seed=0):
    """The textbook bootstrap: resample the test set with replacement, score each resample."""
    rng = np.random.default_rng(seed)
    idx = np.concatenate([rng.integers(0, len(true), (min(100, resamples - s), len(true)))
                          for s in range(0, resamples, 100)])  # the draws bootstrap() makes
    return np.percentile([metric(true[i], pred[i]) for i in idx], [2.5, 97.5])


def test_the_roc_auc_interval_is_sklearn_s_auc_on_each_resample_ties_and_all():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(3)
    positive = rng.random(400) < 0.15
    score = np.round(rng.normal(positive * 1.0, 1), 1)  # rounded: many ties
    ci = auc_interval(positive, score, resamples=300)
    assert ci == pytest.approx(_percentiles(positive, score, roc_auc_score, 300))
    assert ci[0] < roc_auc_score(positive, score) < ci[1] and 0.05 < ci[1] - ci[0] < 0.25


def test_bootstrap_intervals_match_sklearn_on_each_resample():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, 300)
    pred = np.where(rng.random(300) < 0.7, y, rng.integers(0, 4, 300))
    b = bootstrap(y, pred, 4, resamples=200)
    assert b["samples"] == 300 and b["resamples"] == 200
    assert b["accuracy"] == pytest.approx(_percentiles(y, pred, lambda t, p: (t == p).mean(), 200))
    assert b["balanced_accuracy"] == pytest.approx(_percentiles(y, pred, balanced_accuracy_score, 200))
    f1 = lambda t, p: f1_score(t, p, average="macro", labels=range(4), zero_division=0)  # noqa: E731
    assert b["f1_macro"] == pytest.approx(_percentiles(y, pred, f1, 200))
    assert b["mcc"] == pytest.approx(_percentiles(y, pred, matthews_corrcoef, 200))
    assert b["cohen_kappa"] == pytest.approx(_percentiles(y, pred, cohen_kappa_score, 200))
    lo, hi = b["accuracy"]
    assert lo < (y == pred).mean() < hi and hi - lo < 0.15

    t = rng.normal(size=200) * 3
    p = t + rng.normal(size=200)
    b = bootstrap(t, p, resamples=300)
    assert b["r2"] == pytest.approx(_percentiles(t, p, r2_score, 300))
    assert b["rmse"] == pytest.approx(_percentiles(t, p, lambda a, c: np.sqrt(mean_squared_error(a, c)), 300))
    assert b["mae"] == pytest.approx(_percentiles(t, p, mean_absolute_error, 300))
    t2 = np.stack([t, rng.normal(size=200) * 0.1], 1)  # two targets: R² of each, averaged, as the headline's
    p2 = t2 + rng.normal(size=(200, 2)) * [1.0, 0.05]
    b = bootstrap(t2, p2, resamples=300)
    assert b["r2"] == pytest.approx(_percentiles(t2, p2, r2_score, 300))
    assert b["rmse"] == pytest.approx(_percentiles(t2, p2, lambda a, c: np.sqrt(mean_squared_error(a, c)), 300))
    assert b["mae"] == pytest.approx(_percentiles(t2, p2, mean_absolute_error, 300))


def test_repeat_intervals_of_bounded_metrics_stay_in_their_range():
    s = aggregate([{"accuracy": 0.99, "loss": 0.1}, {"accuracy": 1.0, "loss": 0.3}, {"accuracy": 0.97, "loss": 0.2}])
    assert s["accuracy"]["ci95"][1] == 1.0 and s["accuracy"]["ci95"][0] < 0.99
    assert s["loss"]["ci95"][0] < 0.2 < s["loss"]["ci95"][1]


def test_a_one_sample_test_set_has_no_r2_interval_and_raises_no_warning():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        b = bootstrap(np.array([1.0]), np.array([1.25]), resamples=100)
    assert np.isnan(b["r2"]).all() and b["rmse"] == b["mae"] == [0.25, 0.25]


def test_with_groups_the_bootstrap_resamples_whole_groups_as_the_textbook_cluster_bootstrap():
    rng = np.random.default_rng(5)
    groups = np.repeat(np.arange(30), rng.integers(2, 12, 30))  # recordings of 2-11 windows
    n = len(groups)
    good = rng.random(30) < 0.75  # a recording is mostly right or mostly wrong: its windows are not independent
    y = rng.integers(0, 3, n)
    pred = np.where(good[groups] ^ (rng.random(n) < 0.1), y, (y + 1) % 3)
    b = bootstrap(y, pred, 3, resamples=300, groups=groups)
    members = [np.flatnonzero(groups == g) for g in range(30)]
    draws = np.random.default_rng(0)  # whole groups drawn with replacement, their samples scored together
    idx = [np.concatenate([members[g] for g in row]) for s in range(0, 300, 100) for row in draws.integers(0, 30, (100, 30))]
    textbook = lambda metric, a=y, c=pred: np.percentile([metric(a[i], c[i]) for i in idx], [2.5, 97.5])  # noqa: E731
    assert b["groups"] == 30 and b["samples"] == n
    assert b["accuracy"] == pytest.approx(textbook(lambda t, p: (t == p).mean()))
    assert b["balanced_accuracy"] == pytest.approx(textbook(balanced_accuracy_score))
    assert b["mcc"] == pytest.approx(textbook(matthews_corrcoef))
    alone = bootstrap(y, pred, 3, resamples=300)["accuracy"]  # as if every window were an independent sample
    assert b["accuracy"][1] - b["accuracy"][0] > 1.5 * (alone[1] - alone[0])

    t = rng.normal(size=n) + rng.normal(size=30)[groups]
    p = t + rng.normal(size=n) * 0.5
    b = bootstrap(t, p, resamples=300, groups=groups)
    assert b["r2"] == pytest.approx(textbook(r2_score, t, p))
    assert b["mae"] == pytest.approx(textbook(mean_absolute_error, t, p))
    positive = y == 1
    score = np.where(positive, 1.0, 0.0) + rng.normal(size=n)
    from sklearn.metrics import roc_auc_score

    assert auc_interval(positive, score, resamples=300, groups=groups) == pytest.approx(
        textbook(roc_auc_score, positive, score))
