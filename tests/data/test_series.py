"""Series: arrays (N, T, F) of T steps of F values (sensor readings, a signal), read step by step by an
RNN or a transformer. Real data: scikit-learn's digits read row by row (8 steps of 8 pixels)."""
import numpy as np
import pytest
from sklearn.datasets import load_digits

import trainlab
from tests.conftest import recipe_dict
from trainlab.core.config import parse_recipe
from trainlab.core.errors import DataError
from trainlab.data.prepare import load_raw, prepare


def _rows(path) -> str:
    d = load_digits()
    np.savez(path, x=d.images, y=d.target)
    return str(path)


def test_arrays_read_as_series_are_normalised_per_value_over_every_step(tmp_path):
    raw = load_raw("arrays", {"path": _rows(tmp_path / "rows.npz"), "kind": "series"})
    assert raw.kind == "series" and raw.x.shape == (1797, 8, 8) and raw.feature_names == tuple(f"x{i}" for i in range(1, 9))
    p = prepare(raw, val_fraction=0.1, test_fraction=0.1, stratify=True, normalize="standard", seed=0)
    assert p.normalizer.axes == "step" and len(p.normalizer.shift) == 8 and p.spec.input_shape == (8, 8)
    flat = p.split.x_train.reshape(-1, 8)  # every step of every training series, each value apart
    assert np.allclose(flat.mean(0), 0, atol=1e-5) and np.allclose(flat.std(0)[flat.std(0) > 0], 1, atol=1e-4)
    np.savez(tmp_path / "one.npz", x=np.random.default_rng(0).normal(size=(30, 50)), y=np.arange(30) % 2)
    one = load_raw("arrays", {"path": str(tmp_path / "one.npz"), "kind": "series", "feature_names": ["volts"]})
    assert one.x.shape == (30, 50, 1) and one.feature_names == ("volts",)
    with pytest.raises(DataError, match="2 feature names for 1 features"):
        load_raw("arrays", {"path": str(tmp_path / "one.npz"), "kind": "series", "feature_names": ["a", "b"]})
    np.savez(tmp_path / "bad.npz", x=np.zeros((4, 2, 3, 5)), y=np.arange(4) % 2)
    with pytest.raises(DataError, match=r"series must be \(N, T, F\) \(T steps of F values\) or \(N, T\); received "
                                        r"\[4, 2, 3, 5\]"):
        load_raw("arrays", {"path": str(tmp_path / "bad.npz"), "kind": "series"})


@pytest.mark.parametrize("model", [{"name": "rnn", "cell": "lstm", "hidden": 64},
                                   {"name": "transformer", "dim": 32, "depth": 1, "heads": 2, "ff": 64},
                                   {"name": "convnet", "channels": [32, 32], "pool": "max"}])
def test_digits_read_row_by_row_are_learned_and_predicted_from_npy_files(tmp_path, model):
    """An LSTM, a transformer and a 1-D convnet on the digits' 8 rows as 8 steps: they learn them (an LSTM
    0.96 in 12 epochs, the transformer 0.89); predict takes one series (T, F) or a stack, refuses other
    shapes and CSV rows, and the ONNX export holds the preprocessing."""
    d = recipe_dict(data={"name": "arrays", "path": _rows(tmp_path / "rows.npz"), "kind": "series",
                          "normalize": "standard"}, optim={"name": "adam", "lr": 0.005},
                    train={"epochs": 12, "batch_size": 64})
    d["model"] = model
    r = trainlab.run(parse_recipe(d), runs_dir=tmp_path, progress=False)
    assert r.metrics["test"]["accuracy"] > (0.9 if model["name"] == "rnn" else 0.75)
    if model["name"] == "convnet":  # over the steps, the values its channels: the course's formula holds in 1-D
        from trainlab.procedure import model_shapes

        rows = [row for row in model_shapes(parse_recipe(d))[0] if row["type"] in ("Conv1d", "MaxPool1d")]
        assert [row["output"] for row in rows] == [[32, 8], [32, 4], [32, 4], [32, 2]]
        assert all(row["formula_ok"] for row in rows)
    digits = load_digits()
    p = r.predictor
    some = p.predict(digits.images[:40])["predicted"]
    assert p.predict(digits.images[3])["predicted"] == [some[3]] and np.mean(np.array(some) == digits.target[:40].astype(str)) > 0.7
    np.save(tmp_path / "new.npy", digits.images[:5])
    x, names = p.read_files([str(tmp_path / "new.npy")])
    assert x.shape == (5, 8, 8) and names[0].endswith("new.npy[0]")
    with pytest.raises(DataError, match=r"expected series of 8 steps of 8 values \(x1, x2, x3, \.\.\., x8\), shape "
                                        r"\[8, 8\] \(a batch: \[N, 8, 8\]\); received an array of shape \[2, 8, 3\]"):
        p.predict(np.zeros((2, 8, 3)))
    (tmp_path / "rows.csv").write_text("x1,x2\n1,2\n")
    with pytest.raises(DataError, match="a series run reads .npy files of series"):
        p.read_files([str(tmp_path / "rows.csv")])
    if model["name"] != "rnn":
        return
    pytest.importorskip("captum")  # which steps and values the LSTM's decisions rest on
    import json

    from trainlab.procedure import explain

    explain(r.path, samples=4)
    att = json.loads((r.path / "interpret.json").read_text())["attributions"]
    importance = np.asarray(att["global_importance"])
    assert importance.shape == (8, 8) and np.asarray(att["series"]).shape == (4, 8, 8)
    assert importance[:, 0].sum() < importance[:, 3].sum()  # the digits' left edge column is nearly always blank
    assert 'alt="attributions over the steps"' in (r.path / "report.html").read_text()
    pytest.importorskip("onnxruntime")
    from trainlab.export.exporter import export

    assert export(r.path, "onnx", tmp_path / "onnx")["parity"]["passed"]


def test_trainlab_run_on_arrays_of_steps_of_a_few_values_reads_them_as_series(tmp_path):
    from trainlab.starter import starter_recipe

    d = load_digits()
    np.savez(tmp_path / "pixels.npz", x=d.data.reshape(-1, 64, 1), y=d.target)  # 64 steps of 1 value
    recipe, notes = starter_recipe(tmp_path / "pixels.npz")
    assert recipe["data"]["kind"] == "series" and recipe["model"] == {"name": "rnn", "cell": "lstm", "hidden": 64}
    assert "series of 64 steps of 1 value each: an LSTM reads them step by step" in notes[0]
    recipe, _ = starter_recipe(_rows(tmp_path / "rows.npz"))  # 8 × 8: as many steps as values, images
    assert "kind" not in recipe["data"] and recipe["model"]["name"] == "convnet"


def test_an_official_test_set_of_series_brighter_than_training_is_said_to_differ_by_its_values(tmp_path):
    """The shift check reads series as the table of each value's mean and spread over a series."""
    from trainlab.report.methods import shift_sentence

    d = load_digits()
    order = np.random.default_rng(0).permutation(len(d.images))
    train, test = order[:1200], order[1200:]
    for name, scale in (("alike", 1.0), ("brighter", 1.3)):
        np.savez(tmp_path / f"{name}.npz", x=d.images[train], y=d.target[train], x_test=d.images[test] * scale,
                 y_test=d.target[test])
    got = {}
    for name in ("alike", "brighter"):
        raw = load_raw("arrays", {"path": str(tmp_path / f"{name}.npz"), "kind": "series"})
        got[name] = prepare(raw, val_fraction=0.1, test_fraction=0.1, stratify=True, normalize="standard",
                            seed=0).summary["shift"]
    assert not got["alike"]["differ"] and got["alike"]["auc"] < 0.6 and got["alike"]["series"]
    b = got["brighter"]
    assert b["differ"] and b["auc"] > 0.7 and b["columns"][0]["feature"].endswith("over a series")
    assert b["columns"][0]["test_mean"] > b["columns"][0]["train_mean"]
    assert "values whose level or spread over a series differs most: x" in shift_sentence(b)


def _waves(path, n=300, longest=60, seed=0) -> str:
    """Series of 20 to `longest` steps of 2 values, the class the frequency of the first (generated: the
    lengths are the point), padded with NaN steps to the longest."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = np.full((n, longest, 2), np.nan, np.float32)
    for i in range(n):
        t = np.arange(rng.integers(20, longest + 1))
        x[i, :len(t), 0] = np.sin(t * (0.2 + 0.25 * y[i]) + rng.uniform(0, 6))
        x[i, :len(t), 1] = rng.normal(0, 1, len(t))
    np.savez(path, x=x, y=y)
    return str(path)


@pytest.mark.parametrize("name,params", [("rnn", {"cell": "gru", "bidirectional": False}),
                                         ("rnn", {"cell": "lstm", "bidirectional": True, "layers": 2}),
                                         ("transformer", {"dim": 16, "depth": 1, "heads": 2, "ff": 32})])
def test_a_padded_series_gives_the_same_output_however_long_its_padding(name, params):
    """Series of several lengths end in NaN steps: a net reads each one's own steps, packed or (as ONNX
    traces it) not, so more padding changes nothing."""
    import torch

    from trainlab.core.spec import DataSpec
    from trainlab.models import build_model

    spec = DataSpec("series", (30, 2), "class", 3, ("a", "b", "c"), ("u", "v"), padded=True)
    torch.manual_seed(0)
    model = build_model(name, spec, 3, **params).eval()
    x = torch.randn(4, 30, 2)
    x[1, 12:], x[2, 1:] = float("nan"), float("nan")
    with torch.no_grad():
        out = model(x)
        assert torch.isfinite(out).all()  # series 1 and 2 end before step 20: cut there, less padding
        torch.testing.assert_close(model(x[:, :20])[1:3], out[1:3], atol=1e-5, rtol=1e-4)
        if name == "rnn":  # (a transformer's positions end at the longest training series)
            longer = torch.cat([x, torch.full((4, 9, 2), float("nan"))], 1)
            torch.testing.assert_close(model(longer), out, atol=1e-5, rtol=1e-4)
            torch.testing.assert_close(model._unpacked(x), out, atol=1e-5, rtol=1e-4)
            torch.testing.assert_close(model(x[2:3, :1]), out[2:3], atol=1e-5, rtol=1e-4)  # alone, unpadded
    from trainlab.core.errors import RecipeError

    with pytest.raises(RecipeError, match="model 'mlp' reads series of one length; these are of several"):
        build_model("mlp", spec, 3)


def test_series_of_several_lengths_are_learned_and_a_shorter_one_predicted_as_it_is(tmp_path):
    raw = load_raw("arrays", {"path": _waves(tmp_path / "waves.npz"), "kind": "series"})
    p = prepare(raw, val_fraction=0.1, test_fraction=0.2, stratify=True, normalize="standard", seed=0)
    steps = p.summary["series_steps"]
    assert p.spec.padded and steps["shortest"] >= 20 and steps["longest"] == 60
    real = ~np.isnan(p.split.x_train)  # the steps alone are standardised; the padding stays NaN
    assert abs(p.split.x_train[..., 0][real[..., 0]].mean()) < 1e-4 and np.isnan(p.split.x_train).any()
    d = recipe_dict(data={"name": "arrays", "path": str(tmp_path / "waves.npz"), "kind": "series",
                          "normalize": "standard", "test_fraction": 0.2}, optim={"name": "adam", "lr": 0.01},
                    train={"epochs": 25, "batch_size": 32}, eval={"baselines": True}, report={"html": True})
    d["model"] = {"name": "rnn", "cell": "gru", "hidden": 32}
    r = trainlab.run(parse_recipe(d), runs_dir=tmp_path, progress=False)
    assert r.metrics["test"]["accuracy"] > 0.85 and r.metrics["baselines"]["models"]  # (the baselines ran)
    assert f"(series of {steps['shortest']} to 60 steps, median" in (r.path / "report.html").read_text()
    t = np.arange(25)
    wave = np.stack([np.sin(t * 0.7), np.zeros(25)], 1)  # 25 steps of class 2's frequency, unpadded
    assert r.predictor.predict(wave)["predicted"] == ["2"]
    with pytest.raises(DataError, match=r"series 0, step 3: NaN beside numbers"):
        r.predictor.predict(np.where(np.arange(25)[:, None] == 3, [np.nan, 0.0], wave))
    with pytest.raises(DataError, match=r"expected series of up to 60 steps of 2 values"):
        r.predictor.predict(np.zeros((61, 2)))
    pytest.importorskip("onnxruntime")
    from trainlab.export.exporter import export

    assert export(r.path, "onnx", tmp_path / "onnx")["parity"]["passed"]  # on the padded test series


def _recordings(stride: int, normalise: bool, recordings=30, length=300, steps=40, seed=0):
    """Windows of `steps` steps cut every `stride` steps from random walks of 3 values (the recordings;
    generated: the overlaps are the point), each window standardised when `normalise`."""
    rng = np.random.default_rng(seed)
    xs, ids = [], []
    for r in range(recordings):
        walk = np.cumsum(rng.normal(0, 1, (length, 3)), 0).astype(np.float32)
        for s in range(0, length - steps + 1, stride):
            v = walk[s:s + steps]
            xs.append((v - v.mean(0)) / v.std(0) if normalise else v)
            ids.append(r)
    return np.stack(xs), np.array(ids)


@pytest.mark.parametrize("normalise", [False, True])
def test_windows_cut_with_overlap_from_one_recording_are_found_across_the_split_and_not_across_recordings(normalise):
    """A random split of overlapping windows puts a recording's steps on both sides; split by recording, or
    with windows that do not overlap, nothing is found; images read as series give no false match."""
    from trainlab.data.split import overlapping_series
    from trainlab.report.methods import near_sentence

    x, rec = _recordings(20, normalise)  # half of each window is its neighbour's
    test = np.random.default_rng(1).permutation(len(x))[:60]
    train = np.setdiff1d(np.arange(len(x)), test)
    found = overlapping_series(x[test], x[train])
    assert len(found) > 50 and all(abs(k) == 20 and n == 20 and rec[test[j]] == rec[train[i]] for j, i, k, n in found)
    j, i, k, _ = found[0]
    if not normalise:  # the shared steps, value for value: test step s is training step s + k
        later, earlier = (x[train[i]], x[test[j]]) if k > 0 else (x[test[j]], x[train[i]])
        assert np.array_equal(later[abs(k):], earlier[:40 - abs(k)])
    held = np.isin(rec, [0, 1, 2])
    assert overlapping_series(x[held], x[~held]) == []  # a recording on one side only
    apart, _ = _recordings(40, normalise)
    assert overlapping_series(apart[:30], apart[30:]) == []  # windows that share no step
    said = near_sentence({"kind": "series", "share": 0.5, "threshold": 0.999, "steps": 40, "test_in_train": len(found)})
    assert said.startswith(f"{len(found)} test series move as a training series does over 50% of their 40 steps")
    assert "Name the recording of each window (data.groups)" in said
    raw = load_raw("fashion_mnist", {})
    rows = raw.x[:3000, 0].astype(np.float32)
    assert overlapping_series(rows[:500], rows[500:]) == []  # 28 rows of 28 pixels: no picture moves as another


def test_a_run_s_data_summary_counts_overlapping_windows_unless_each_recording_is_split_whole(tmp_path):
    x, rec = _recordings(20, True)
    np.savez(tmp_path / "w.npz", x=x, y=rec % 2, recording=rec)
    near = {}
    for by in ("", "recording"):
        raw = load_raw("arrays", {"path": str(tmp_path / "w.npz"), "kind": "series", "groups": by})
        near[by] = prepare(raw, val_fraction=0.1, test_fraction=0.2, stratify=True, normalize="standard",
                           seed=0).summary["near_duplicates"]
    assert near[""]["kind"] == "series" and near[""]["test_in_train"] > 40 and near[""]["pairs"][0]["steps"] == 20
    assert near["recording"]["test_in_train"] == 0
