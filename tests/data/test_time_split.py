"""data.time: a table split in time order, the test set last. Under drift a random split is optimistic:
it trains on every period, including the one it is tested on."""
import csv

import numpy as np
import pytest

import trainlab
from trainlab.core.errors import DataError


def _drifting(path, n=1200, date_format="{:%Y-%m-%d}"):
    """Measurements whose relation to the label drifts: the threshold on x1 moves up month by month,
    three rows per day (shared dates)."""
    from datetime import date, timedelta

    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4))
    day = np.arange(n) // 3
    y = (x[:, 0] > -1.5 + 3.0 * day / day.max()).astype(int)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["visit", "x1", "x2", "x3", "x4", "outcome"])
        for i in rng.permutation(n):  # the file is not in time order
            w.writerow([date_format.format(date(2020, 1, 1) + timedelta(days=int(day[i]))), *np.round(x[i], 4), y[i]])
    return path


def test_the_test_set_comes_after_the_training_and_a_random_split_is_optimistic_under_drift(tmp_path):
    data = _drifting(tmp_path / "visits.csv")
    common = ["train.epochs=30", "report.interpret=false"]
    timed = trainlab.run(data, [*common, "data.time='visit'"], label="outcome", runs_dir=tmp_path / "t", progress=False)
    p, sizes = timed.metrics["data"]["periods"], timed.metrics["data"]["sizes"]
    assert p["train"][1] < p["val"][0] <= p["val"][1] < p["test"][0] and p["test"][1] == "2021-02-03"
    assert (sizes["train"], sizes["val"], sizes["test"]) == (960, 120, 120)  # 80/10/10, whole days on each side
    assert "visit" not in timed.metrics["spec"]["feature_names"]
    randomly = trainlab.run(data, common, label="outcome", runs_dir=tmp_path / "r", progress=False)
    assert "visit" not in randomly.metrics["spec"]["feature_names"]  # the starter leaves a date out as well
    from trainlab.starter import starter_recipe

    assert "column 'visit' left out: dates (2020-01-01 to 2021-02-03), not a measurement; --set data.time=visit " \
           "splits in time order" in " ".join(starter_recipe(data, "outcome")[1])
    assert timed.metrics["test"]["accuracy"] < randomly.metrics["test"]["accuracy"] - 0.05
    from trainlab.report.methods import methods_text

    text = " ".join(methods_text(timed.recipe, timed.metrics, {}))
    assert f"a split in time order (data.time = \"visit\"): 960 training samples from 2020-01-01 to {p['train'][1]}" in text


@pytest.mark.parametrize("extra,message", [
    (["data.time='visit'"], "'\\d\\d/\\d\\d/2020' is neither a number nor an ISO 8601 date"),
])
def test_dates_without_a_sure_order_are_refused(tmp_path, extra, message):
    data = _drifting(tmp_path / "v.csv", n=60, date_format="{:%m/%d/%Y}")
    with pytest.raises(DataError, match=message):
        trainlab.run(data, extra, label="outcome", runs_dir=tmp_path / "runs", progress=False)


def test_rolling_origin_folds_test_each_later_period_on_what_came_before(tmp_path):
    from trainlab.data.prepare import load_raw
    from trainlab.data.split import split

    data = _drifting(tmp_path / "v.csv")  # 400 days, 3 rows a day
    raw = load_raw("table", {"path": str(data), "label": "outcome", "time": "visit"})
    folds = [split(raw, val_fraction=0.1, test_fraction=0.1, stratify=True, seed=i, cv=(4, i, 0)) for i in range(4)]
    tested = [f.periods["test"] for f in folds]
    assert [len(f.y_test) for f in folds] == [240] * 4  # 5 periods of 80 days: periods 2-5 tested, once each
    assert all(a[1] < b[0] for a, b in zip(tested, tested[1:])) and tested[-1][1] == "2021-02-03"
    for i, f in enumerate(folds):
        p = f.periods
        assert p["train"][1] < p["val"][0] <= p["val"][1] < p["test"][0] and p["rolling"] == {"fold": i + 1, "folds": 4,
                                                                                             "samples": 1200}
        assert len(f.y_train) + len(f.y_val) == 240 * (i + 1)  # everything before its test period
        assert len(f.y_val) == pytest.approx(240 * (i + 1) / 9, abs=3)  # the share of an 80/10/10 split's
    with pytest.raises(DataError, match="leave no .* in fold"):  # more folds than days
        split(raw, val_fraction=0.1, test_fraction=0.1, stratify=True, seed=0, cv=(500, 1, 0))

    r = trainlab.run(data, ["data.time='visit'", "eval.folds=4", "train.epochs=5", "report.interpret=false"],
                     label="outcome", runs_dir=tmp_path / "runs", progress=False)
    assert r.metrics["repeats"]["folds"] == 4 and r.metrics["repeats"]["test"]["accuracy"]["n"] == 4
    from trainlab.report.methods import methods_text

    text = " ".join(methods_text(r.recipe, r.metrics, {}))
    assert "v.csv, 1,200 samples; rolling-origin evaluation in time order (data.time = \"visit\"): the " \
           "samples cut into 5 consecutive periods, and each of 4 folds tested on one period" in text
    assert "Accuracy of each fold in time order: " + ", ".join(f"{v:.4f}" for v in
                                                             r.metrics["repeats"]["test"]["accuracy"]["values"]) in text
    assert "rolling origin: fold 1 of 4" in (r.path / "report.html").read_text()


def test_time_order_refuses_a_calibration_split(tmp_path):
    data = _drifting(tmp_path / "v.csv", n=60)
    with pytest.raises(DataError, match="later in time are not exchangeable"):
        trainlab.run(data, ["data.time='visit'", "data.calibration_fraction=0.1", "eval.conformal=0.9"], label="outcome",
                     runs_dir=tmp_path / "runs", progress=False)


def test_only_dates_of_a_sure_form_are_times():
    from trainlab.data.datasets import is_iso_date, moments

    assert all(map(is_iso_date, ["2024-03-01", "2024-03-01T08:30", "2024-03-01 08:30:15.5"]))
    # NumPy alone reads these too: "now" and "today" as the clock's time, "" and "NaT" as no time
    assert not any(map(is_iso_date, ["", "NaT", "now", "today", "2024-02-30", "03/01/2024"]))
    with pytest.raises(DataError, match="'now' is neither a number nor an ISO 8601 date"):
        moments(["2024-03-01", "now"], "visits.csv column 'visit'")
    assert moments(["2021", "2020"], "x")[0].tolist() == [2021.0, 2020.0]  # years are numbers


def test_a_sliding_window_learns_from_the_latest_periods_only_and_old_data_can_hurt_under_drift(tmp_path):
    """data.time_window = W: each rolling fold learns from the W periods before its test period. The drifting
    threshold makes old periods misleading, so a window of one period tests better than all of them."""
    from trainlab.data.prepare import load_raw
    from trainlab.data.split import split

    data = _drifting(tmp_path / "v.csv")  # 5 periods of 240 rows
    raw = load_raw("table", {"path": str(data), "label": "outcome", "time": "visit"})
    folds = [split(raw, val_fraction=0.1, test_fraction=0.1, stratify=True, seed=i, cv=(4, i, 0), time_window=2)
             for i in range(4)]
    assert [len(f.y_train) + len(f.y_val) for f in folds] == [240, 480, 480, 480]  # at most the 2 periods before
    assert folds[3].periods["rolling"]["window"] == 2 and folds[3].periods["train"][0] > folds[1].periods["train"][0]
    assert folds[3].periods["train"][0] >= folds[1].periods["test"][0]  # fold 4 learns from periods 3 and 4 only
    for bad, message in ((dict(cv=None), "run with --folds"), (dict(cv=(4, 0, 0), raw=None), "it needs data.time")):
        r = load_raw("table", {"path": str(data), "label": "outcome", "features": ["x1", "x2"]}) if "raw" in bad else raw
        with pytest.raises(DataError, match=message):
            split(r, val_fraction=0.1, test_fraction=0.1, stratify=True, seed=0, cv=bad["cv"], time_window=1)

    common = ["data.time='visit'", "eval.folds=4", "train.epochs=30", "report.interpret=false", "eval.baselines=false"]
    runs = {w: trainlab.run(data, [*common, f"data.time_window={w}"], label="outcome", runs_dir=tmp_path / str(w),
                            progress=False) for w in (0, 1)}
    acc = {w: r.metrics["repeats"]["test"]["accuracy"]["values"] for w, r in runs.items()}
    assert acc[0][0] == pytest.approx(acc[1][0])  # fold 1 has one period before it either way
    assert np.mean(acc[1][1:]) > np.mean(acc[0][1:]) + 0.05, acc
    from trainlab.report.methods import methods_text

    assert "by a model trained on the period before it only (a sliding window, data.time_window)" in \
        " ".join(methods_text(runs[1].recipe, runs[1].metrics, {}))
