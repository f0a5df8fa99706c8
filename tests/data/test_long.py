"""Series written as a table one row a step (data.series, data.order, data.window): what a sensor or a
monitor writes. Real data: scikit-learn's digits, each image a series of its 8 rows, written one row a line."""
import csv

import numpy as np
import pytest
from sklearn.datasets import load_digits

import trainlab
from tests.conftest import recipe_dict
from trainlab.core.config import parse_recipe
from trainlab.core.errors import DataError
from trainlab.data.prepare import load_raw, prepare
from trainlab.starter import starter_recipe

PIXELS = [f"p{j}" for j in range(8)]


def _write(path, header, rows) -> str:
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows([header, *rows])
    return str(path)


def _digits_long(path, n=None, shuffle=True, phase=False) -> str:
    """Each digit image a series of 8 steps (its rows), one row a line, lines shuffled; `phase`: a categorical
    column per step, "top" for the first 4 rows and "bottom" after."""
    d = load_digits()
    rows = [[f"img{i}", t, *d.images[i, t].tolist(), *(["top" if t < 4 else "bottom"] if phase else []), int(d.target[i])]
            for i in range(n or len(d.images)) for t in range(8)]
    if shuffle:
        np.random.default_rng(0).shuffle(rows)
    return _write(path, ["image_id", "t", *PIXELS, *(["phase"] if phase else []), "label"], rows)


def _recordings(path, per=10, count=60) -> tuple[str, np.ndarray]:
    """Recordings of `per` digits one after the other, 8 rows each, a label per row: the digits' order."""
    d = load_digits()
    order = np.random.default_rng(1).permutation(len(d.images))[:per * count].reshape(count, per)
    rows = [[f"rec{r}", k * 8 + t, *d.images[i, t].tolist(), int(d.target[i])]
            for r in range(count) for k, i in enumerate(order[r]) for t in range(8)]
    return _write(path, ["recording", "step", *PIXELS, "digit"], rows), order


def test_a_long_table_is_read_as_one_series_per_id_in_step_order(tmp_path):
    raw = load_raw("table", {"path": _digits_long(tmp_path / "d.csv"), "label": "label", "series": "image_id",
                             "order": "t"})
    d = load_digits()
    assert raw.kind == "series" and raw.x.shape == (1797, 8, 8) and raw.feature_names == tuple(PIXELS)
    assert "1,797 series by 'image_id', steps in order of 't'" in raw.source and raw.groups is None
    ids = np.array([int(s.removeprefix("img")) for s in _ids_in_order(tmp_path / "d.csv")])
    assert np.array_equal(raw.x, d.images[ids].astype(np.float32)) and np.array_equal(raw.y, d.target[ids])
    p = prepare(raw, val_fraction=0.1, test_fraction=0.1, stratify=True, normalize="standard", seed=0)
    assert p.spec.kind == "series" and p.spec.input_shape == (8, 8) and p.normalizer.axes == "step"


def _ids_in_order(path) -> list[str]:
    seen = {}
    with open(path) as f:
        for row in list(csv.reader(f))[1:]:
            seen.setdefault(row[0], None)
    return list(seen)


def test_a_long_table_names_the_rows_that_break_it(tmp_path):
    header = ["id", "t", "v", "y"]
    same = _write(tmp_path / "same.csv", header, [["a", 0, 1, 0], ["a", 1, 2, 0], ["a", 1, 3, 0], ["b", 0, 1, 1]])
    with pytest.raises(DataError, match=r"rows 3 and 4 of series 'a' are both at 1; a series has one row a step"):
        load_raw("table", {"path": same, "label": "y", "series": "id", "order": "t"})
    changes = _write(tmp_path / "changes.csv", header, [["a", 0, 1, 0], ["a", 1, 2, 1], ["b", 0, 1, 1]])
    with pytest.raises(DataError, match=r"the label changes within series 'a': '0' at row 2, '1' at row 3\. A sample "
                                        r"has one the label; set data.window"):
        load_raw("table", {"path": changes, "label": "y", "series": "id", "order": "t"})
    no_id = _write(tmp_path / "no_id.csv", header, [["a", 0, 1, 0], ["", 1, 2, 0], ["b", 0, 1, 1]])
    with pytest.raises(DataError, match=r"row 3: no series id"):
        load_raw("table", {"path": no_id, "label": "y", "series": "id"})
    for params, said in (({"order": "t"}, "name the column that says which series a row belongs to: data.series"),
                         ({"series": "id", "missing": "median"}, r"data.missing = \"previous\""),
                         ({"series": "id", "stride": 2}, "set data.window"),
                         ({"series": "y"}, "'y' cannot also be the label")):
        with pytest.raises(DataError, match=said):
            load_raw("table", {"path": same, "label": "y", **params})


def test_windows_cut_from_recordings_are_split_by_recording_and_keep_one_label(tmp_path):
    """Windows of 8 steps every 8 are the digits themselves; every 4, the windows across two digits of
    different classes are left out, and the rest still never share a recording between splits."""
    path, order = _recordings(tmp_path / "rec.csv")
    d = load_digits()
    raw = load_raw("table", {"path": path, "label": "digit", "series": "recording", "order": "step", "window": 8})
    assert raw.x.shape == (600, 8, 8) and np.array_equal(raw.x, d.images[order.reshape(-1)].astype(np.float32))
    assert np.array_equal(raw.groups, np.repeat(np.argsort(np.argsort([f"rec{r}" for r in range(60)])), 10))
    half = load_raw("table", {"path": path, "label": "digit", "series": "recording", "order": "step", "window": 8,
                              "stride": 4})
    labels = d.target[order]
    mixed = int((labels[:, 1:] != labels[:, :-1]).sum())  # the window across digits k and k + 1 of another class
    assert len(half.x) == 600 + 60 * 9 - mixed and f"{mixed:,} windows spanning two labels left out" in half.source
    p = prepare(half, val_fraction=0.1, test_fraction=0.2, stratify=True, normalize="standard", seed=0)
    assert p.summary["groups"]["in_two_splits"] == 0 and p.summary["near_duplicates"]["test_in_train"] == 0
    with pytest.raises(DataError, match=r"no window of 100 steps \(60 of 60 series are shorter\)"):
        load_raw("table", {"path": path, "label": "digit", "series": "recording", "window": 100})


def test_gaps_take_the_last_value_of_their_series(tmp_path):
    header = ["id", "t", "v", "w", "y"]
    rows = [["a", 2, 3, "", 0], ["a", 0, "", 5, 0], ["a", 1, 2, "", 0], ["a", 3, "NA", 7, 0],
            ["b", 0, 1, 1, 1], ["b", 1, "", 2, 1]]
    path = _write(tmp_path / "gaps.csv", header, rows)
    with pytest.raises(DataError, match=r"row 2, column 'w'.*data.missing = \"previous\""):
        load_raw("table", {"path": path, "label": "y", "series": "id", "order": "t"})
    raw = load_raw("table", {"path": path, "label": "y", "series": "id", "order": "t", "missing": "previous"})
    a = [[2, 5], [2, 5], [3, 5], [3, 7]]  # v at step 0 from step 1 (none before); w carried from step 0
    assert np.array_equal(raw.x[0], np.array(a, np.float32)) and np.array_equal(raw.x[1, :2], [[1, 1], [1, 2]])
    assert np.isnan(raw.x[1, 2:]).all()  # b: 2 steps, padded to a's 4
    empty = _write(tmp_path / "empty.csv", header, [["a", 0, 1, "", 0], ["a", 1, 2, "", 0], ["b", 0, 1, 1, 1]])
    with pytest.raises(DataError, match=r"series 'a' has no value of 'w' in any of its 2 rows"):
        load_raw("table", {"path": empty, "label": "y", "series": "id", "missing": "previous"})


def test_trainlab_run_reads_a_long_table_as_series_then_predicts_and_evaluates_its_rows(tmp_path):
    """The starter finds the id column and the step column and trains an LSTM (0.96 in 15 epochs); predict
    and evaluate read a CSV of the same layout, series by series, the categorical column one-hot as in
    training even where a new file lacks one of its values."""
    path = _digits_long(tmp_path / "digits.csv", phase=True)
    recipe, notes = starter_recipe(path)
    assert recipe["data"]["series"] == "image_id" and recipe["data"]["order"] == "t"
    assert recipe["model"]["name"] == "rnn" and "image_id" not in recipe["data"].get("features", [])
    assert any("column 'image_id' names 1797 series of 8 rows, each of one 'label'" in n for n in notes)
    recipe["train"].update(epochs=15, early_stopping={"patience": 15})
    r = trainlab.run(parse_recipe(recipe), runs_dir=tmp_path, progress=False)
    assert r.metrics["test"]["accuracy"] > 0.9
    d = load_digits()
    new = _digits_long(tmp_path / "new.csv", n=30, shuffle=False)  # without the phase column: an error
    with pytest.raises(DataError, match="missing feature column 'phase'"):
        r.predictor.read_files([new])
    rows = [[f"new{i}", t, *d.images[i, t].tolist(), "bottom" if t >= 4 else "top"] for i in range(30) for t in range(8)]
    x, names = r.predictor.read_files([_write(tmp_path / "p.csv", ["image_id", "t", *PIXELS, "phase"], rows[::-1])])
    assert names[:2] == ["p.csv: new29", "p.csv: new28"] and x.shape == (30, 8, 10)
    assert np.array_equal(x[::-1, :, :8], d.images[:30].astype(np.float32))
    got = r.predictor.predict(x)["predicted"]
    assert np.mean(np.array(got[::-1]) == d.target[:30].astype(str)) > 0.8
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from trainlab.serve.app import create_app

    served = TestClient(create_app(r.predictor)).post(
        "/predict", files={"file": ("rows.csv", (tmp_path / "p.csv").read_bytes())}).json()  # a long table, uploaded
    assert served["inputs"][:2] == ["rows.csv: new29", "rows.csv: new28"] and served["predicted"] == got
    assert "per_recording" not in served  # whole series, not windows
    from trainlab.evaluate.external import evaluate_external

    # every step written "bottom": the run's column phase=top is zeros there, phase=bottom ones
    bottom = [[*row[:-1], "bottom", int(d.target[int(row[0][3:])])] for row in rows]
    result = evaluate_external(r.path, _write(tmp_path / "bottom.csv", ["image_id", "t", *PIXELS, "phase", "label"],
                                                 bottom))
    assert r.predictor.spec.feature_names[-2:] == ("phase=bottom", "phase=top")
    aligned = np.concatenate([d.images[:30, :, :], np.ones((30, 8, 1)), np.zeros((30, 8, 1))], -1)
    expected = np.mean(np.array(r.predictor.predict(aligned)["predicted"]) == d.target[:30].astype(str))
    assert result["samples"] == 30 and result["metrics"]["accuracy"] == pytest.approx(expected)


def test_a_table_with_a_label_per_row_is_read_as_rows_of_groups_or_as_windows_when_asked(tmp_path):
    """A label per row (what each step is doing): each row a sample, split by recording, and the note says how
    to read windows instead; with --set data.series the starter picks an LSTM for them."""
    path, _ = _recordings(tmp_path / "rec.csv", count=20)
    recipe, notes = starter_recipe(path, "digit")
    assert recipe["data"]["group"] == "recording" and recipe["model"]["name"] == "mlp" and "series" not in recipe["data"]
    assert any("--set data.series=recording --set data.order=step --set data.window=N reads windows" in n for n in notes)
    sets = ["data.series=recording", "data.order=step", "data.window=8"]
    recipe, notes = starter_recipe(path, "digit", sets)
    assert recipe["model"]["name"] == "rnn" and not {"recording", "step"} & set(recipe["data"].get("features", []))
    assert any("column 'recording' names 20 series (data.series)" in n for n in notes)
    from trainlab.procedure import _resolved

    r = _resolved(path, sets, "digit")
    assert r.data.params["window"] == 8 and r.data.params["series"] == "recording"


def test_arrays_of_long_recordings_are_cut_into_windows_split_by_recording(tmp_path):
    """Arrays (N, T, F) of recordings, one label each (10 digits of one class, row after row), cut into windows
    of 8 steps: each window a digit, of its recording's label, the windows of one recording in one split; a
    recording cut short (NaN after step 60) gives the windows that fit; an official test set is cut too."""
    d = load_digits()
    idx = np.concatenate([np.flatnonzero(d.target == c)[:100] for c in range(10)]).reshape(100, 10)
    idx = idx[np.random.default_rng(0).permutation(100)]  # recordings of every class in both sets
    x, y = d.images[idx].reshape(100, 80, 8).astype(np.float32), d.target[idx[:, 0]]
    x[::4, 60:] = np.nan
    np.savez(tmp_path / "recs.npz", x=x[:80], y=y[:80], x_test=x[80:], y_test=y[80:])
    raw = load_raw("arrays", {"path": str(tmp_path / "recs.npz"), "kind": "series", "window": 8})
    kept = [10 if i % 4 else 7 for i in range(100)]  # 60 steps hold 7 windows of 8
    assert len(raw.x) == sum(kept[:80]) and len(raw.x_test) == sum(kept[80:])
    assert "80 series cut into 740 windows and 20 test series cut into 185 windows of 8 steps every 8" in raw.source
    assert np.array_equal(raw.x[:7], d.images[idx[0, :7]]) and np.array_equal(raw.y, np.repeat(y[:80], kept[:80]))
    assert np.array_equal(raw.groups, np.repeat(np.arange(80), kept[:80]))
    assert np.array_equal(raw.groups_test, np.repeat(np.arange(80, 100), kept[80:]))  # the test recordings, numbered on
    p = prepare(raw, val_fraction=0.2, test_fraction=0.2, stratify=True, normalize="standard", seed=0)
    assert p.summary["groups"]["in_two_splits"] == 0 and not p.spec.padded and p.spec.input_shape == (8, 8)
    assert p.summary["groups"]["count"] == 100 and p.summary["groups"]["test"] == 20
    shift = p.summary["shift"]  # recordings, not windows, are the units of the checks on the official test set
    assert shift["unit"] == "groups" and shift["samples"]["test"] < 20 and shift["classes"]["unit"] == "groups"
    half = load_raw("arrays", {"path": str(tmp_path / "recs.npz"), "kind": "series", "window": 16, "stride": 8})
    assert len(half.x) == sum(9 if i % 4 else 6 for i in range(80))
    d2 = recipe_dict(data={"name": "arrays", "path": str(tmp_path / "recs.npz"), "kind": "series", "window": 8},
                     optim={"name": "adam", "lr": 0.005}, train={"epochs": 3}, report={"html": True, "interpret": False},
                     eval={"baselines": True})
    d2["model"] = {"name": "rnn", "cell": "lstm", "hidden": 32}
    r = trainlab.run(parse_recipe(d2), runs_dir=tmp_path, progress=False)
    test = r.metrics["test"]
    assert test["bootstrap"]["groups"] == 20 and test["bootstrap"]["samples"] == 185
    assert test["by_group"]["groups"] == 20 and test["by_group"]["samples_per_group"] == {"median": 10, "smallest": 7,
                                                                                          "largest": 10}
    assert test["group_accuracy"] == test["by_group"]["accuracy"]
    base = r.metrics["baselines"]["models"]  # scored per recording too, and tested against over whole recordings
    shares = [np.mean(y[80:] == c) for c in range(10)]  # one class guessed for every window: its share of recordings
    assert any(base["majority class"]["by_group"]["accuracy"] == pytest.approx(v) for v in shares)
    lr = base["logistic regression"]
    assert lr["paired"]["groups"] == 20 and (lr["by_group"]["accuracy"] * 20) % 1 == pytest.approx(0, abs=1e-9)
    html = (r.path / "report.html").read_text()
    assert "; logistic regression, the best baseline, the same way: accuracy " in html
    assert "over the 20 test recordings, each resampled whole" in html and "Per recording (20 test recordings" in html
    assert "Only 20 test recordings (185 windows): the windows of one recording are not independent" in html
    np.savez(tmp_path / "again.npz", x=x[80:], y=y[80:])  # the test recordings as an external test set
    from trainlab.evaluate.external import evaluate_external
    from trainlab.report.methods import external_sentences

    ext = evaluate_external(r.path, tmp_path / "again.npz")
    got = ext["metrics"]  # the same windows of the same recordings: the same figures, resampled by recording
    assert ext["groups"] == 20 and ext["samples"] == 185 and ext["copies"] == 185 and ext["shift"]["unit"] == "groups"
    assert got["accuracy"] == pytest.approx(test["accuracy"]) and got["bootstrap"]["groups"] == 20
    assert got["bootstrap"]["accuracy"] == pytest.approx(test["bootstrap"]["accuracy"])
    assert got["by_group"]["accuracy"] == pytest.approx(test["by_group"]["accuracy"])
    said = [s for s, _ in external_sentences(ext)]
    assert said[0].startswith("On again (185 windows of 20 recordings), accuracy") and said[1].startswith(
        "Per recording (20 test recordings of 10 windows each, median, 7-10)")
    np.save(tmp_path / "two.npy", x[[0, 1]])  # a recording cut short at 60 steps, and a whole one
    got, names = r.predictor.read_files([str(tmp_path / "two.npy")])
    assert len(got) == 17 and names[6].endswith("two.npy[0], steps 48-55") and names[7].endswith("[1], steps 0-7")
    assert np.array_equal(got[7:], d.images[idx[1]])
    from trainlab.serve.predictor import per_recording
    from tests.cli.test_cli import cli_here

    windows = r.predictor.predict(got)
    each = per_recording(names, windows)  # each recording as the report scores one: its windows' mean
    mean = [np.mean(windows["probabilities"][a:b], 0) for a, b in ((0, 7), (7, 17))]
    assert [(e["input"], e["windows"]) for e in each] == [(f"{tmp_path / 'two.npy'}[{i}]", n) for i, n in ((0, 7), (1, 10))]
    assert [e["predicted"] for e in each] == [str(r.predictor.spec.class_names[m.argmax()]) for m in mean]
    assert [each[1][f"p({c})"] for c in windows["classes"]] == pytest.approx(mean[1], abs=1e-6)
    shown = cli_here("predict", r.path, tmp_path / "two.npy", "--out", tmp_path / "p.csv")
    assert shown.returncode == 0 and "2 recordings, each by its windows' mean probabilities" in shown.stdout
    assert (tmp_path / "p-per-recording.csv").read_text().splitlines()[2].startswith(f"{tmp_path / 'two.npy'}[1],10,")
    assert per_recording(["a.png", "b.png"], windows) is None
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from trainlab.serve.app import create_app

    client = TestClient(create_app(r.predictor))
    served = client.post("/predict", files={"file": ("two.npy", (tmp_path / "two.npy").read_bytes())}).json()
    assert served["inputs"][6] == "two.npy[0], steps 48-55" and served["predicted"] == windows["predicted"]
    assert [(e["input"], e["windows"], e["predicted"]) for e in served["per_recording"]] == [
        ("two.npy[0]", 7, each[0]["predicted"]), ("two.npy[1]", 10, each[1]["predicted"])]
    np.save(tmp_path / "flat.npy", x[0, :, :4])  # 4 values a step, not 8
    refused = client.post("/predict", files={"file": ("flat.npy", (tmp_path / "flat.npy").read_bytes())})
    assert refused.status_code == 422 and refused.json()["detail"].startswith("flat.npy: expected recordings of 8 values")
    with pytest.raises(DataError, match="set data.kind = \"series\" and data.window"):
        load_raw("arrays", {"path": str(tmp_path / "recs.npz"), "window": 8})
    with pytest.raises(DataError, match=r"no series has 100 steps or more \(the longest: 80\)"):
        load_raw("arrays", {"path": str(tmp_path / "recs.npz"), "kind": "series", "window": 100})


def test_windows_over_a_label_per_row_take_their_last_most_common_or_mean_label(tmp_path):
    """data.window_label: windows of 8 steps every 2 across two digits keep every window, labelled by the last
    row's digit, the most common one (6 rows against 2; a tie goes to the later digit) or the rows' mean."""
    path, order = _recordings(tmp_path / "rec.csv", count=20)
    labels = load_digits().target[order]  # (20 recordings, 10 digits)
    starts = np.arange(0, 80 - 8 + 1, 2)  # 37 windows per recording
    first, last = labels[:, starts // 8], labels[:, (starts + 7) // 8]
    base = {"path": path, "label": "digit", "series": "recording", "order": "step", "window": 8, "stride": 2}
    for how, want in (("last", last), ("majority", np.where(starts % 8 <= 2, first, last))):
        raw = load_raw("table", {**base, "window_label": how})
        assert raw.x.shape == (20 * 37, 8, 8) and raw.target == "class" and "left out" not in raw.source
        assert f"each labelled by its {'last row' if how == 'last' else 'most common'}" in raw.source
        names = np.array(raw.class_names, dtype=np.int64)
        assert np.array_equal(names[raw.y], want.reshape(-1))
    # mean: the digits as numbers, a regression target averaged over each window's rows
    raw = load_raw("table", {**base, "window_label": "mean"})
    rows = np.repeat(labels, 8, axis=1).astype(np.float64)  # (20, 80): each row's digit
    mean = np.stack([rows[:, s:s + 8].mean(1) for s in starts], 1)
    assert raw.target == "real" and np.allclose(np.asarray(raw.y, np.float64).reshape(-1), mean.reshape(-1))
    for params, match in (({"window": 0, "stride": 0, "window_label": "last"}, "labels a window; set data.window"),
                          ({"window_label": "mean", "target": "class"}, "takes a mean of values"),
                          ({"window_label": "majority", "target": "real"}, "takes the most common class")):
        with pytest.raises(DataError, match=match):
            load_raw("table", {**base, **params})
    with pytest.raises(DataError, match="window_label"):  # the mixed windows' error names the way out
        load_raw("table", {**base, "stride": 80, "window": 80})


def test_arrays_with_a_label_per_step_label_each_window_by_its_steps(tmp_path):
    """Recordings (N, 80, 8) of 10 digits one after the other with y (N, 80), each step's digit: windows of one
    digit only by default, or every window labelled by its last step, its most common one (a tie: the later),
    or, of values, their mean."""
    d = load_digits()
    order = np.random.default_rng(0).permutation(len(d.images))[:300].reshape(30, 10)
    x = d.images[order].reshape(30, 80, 8).astype(np.float32)
    y = np.repeat(d.target[order], 8, axis=1)  # (30, 80): the digit of each step
    np.savez(tmp_path / "steps.npz", x=x, y=y)
    params = {"path": str(tmp_path / "steps.npz"), "kind": "series", "window": 8, "stride": 4}
    same = load_raw("arrays", params)  # 19 windows a recording; those between two digits of two classes left out
    starts = np.arange(0, 73, 4)
    windows = y[:, starts[:, None] + np.arange(8)]  # (30, 19, 8)
    one = (windows == windows[..., :1]).all(-1)  # (between two digits of one class too)
    assert 300 <= one.sum() < 30 * 19 and len(same.x) == one.sum()
    assert f"30 series cut into {one.sum()} windows of 8 steps every 4; {30 * 19 - one.sum()} windows spanning two labels " \
        "left out" in same.source
    assert np.array_equal(np.asarray(same.class_names, int)[same.y], windows[one][:, 0])
    assert np.array_equal(same.groups, np.repeat(np.arange(30), one.sum(1)))
    assert np.array_equal(same.x, x[:, starts[:, None] + np.arange(8)][one])
    last = load_raw("arrays", {**params, "window_label": "last"})
    assert len(last.x) == 30 * 19 and "each labelled by its last step's label" in last.source
    assert np.array_equal(np.asarray(last.class_names, int)[last.y], y[:, starts + 7].reshape(-1))
    most = load_raw("arrays", {**params, "stride": 3, "window_label": "majority"})  # 3..10: 5 of one digit, 3 of the next
    first = np.arange(0, 73, 3)
    spans = y[:, first[:, None] + np.arange(8)]  # (30, 25, 8)
    expected = [max(set(w), key=lambda c: (list(w).count(c), max(j for j, v in enumerate(w) if v == c)))
                for w in spans.reshape(-1, 8).tolist()]
    assert np.array_equal(np.asarray(most.class_names, int)[most.y], expected)
    assert (np.array(expected) != spans.reshape(-1, 8)[:, -1]).sum() > 100  # the majority, not the last
    np.savez(tmp_path / "level.npz", x=x, y=y.astype(np.float32) / 10)
    mean = load_raw("arrays", {**params, "path": str(tmp_path / "level.npz"), "window_label": "mean"})
    assert mean.target == "real" and mean.y[1] == pytest.approx(y[0, 4:12].mean() / 10)
    with pytest.raises(DataError, match="data.window_label = 'mean' takes a mean of values, and data.target is 'class'"):
        load_raw("arrays", {**params, "window_label": "mean", "target": "class"})
    with pytest.raises(DataError, match=r"y holds a label per step \(shape \[30, 80\], as x's series\); set data.window"):
        load_raw("arrays", {"path": str(tmp_path / "steps.npz"), "kind": "series"})
    np.savez(tmp_path / "one.npz", x=x, y=y[:, 0])
    with pytest.raises(DataError, match=r"y must then hold one label per step, shape \[N, T\] = \[30, 80\]"):
        load_raw("arrays", {**params, "path": str(tmp_path / "one.npz"), "window_label": "last"})
