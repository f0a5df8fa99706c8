import json

import numpy as np
import pytest

from trainlab.export.exporter import FORMATS, export


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("which", ["image_run", "table_run"])
def test_export_with_parity_and_card(request, which, fmt, tmp_path):
    if fmt == "onnx":
        pytest.importorskip("onnxruntime")
    run = request.getfixturevalue(which)
    card = export(run.path, fmt, tmp_path)
    assert card["parity"]["passed"] and card["parity"]["max_abs_diff"] <= 1e-4 and card["parity"]["samples"] > 10
    saved = json.loads((tmp_path / f"{card['file']}.card.json").read_text())
    assert saved["sha256"] == card["sha256"] and saved["input"]["shape"][0] == "batch"
    assert saved["classes"] == list(run.predictor.spec.class_names) and saved["recipe_hash"]
    assert "accuracy" in saved["test_metrics"]


def test_onnx_takes_raw_units_and_any_batch(image_run, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    card = export(image_run.path, "onnx", tmp_path)
    sess = ort.InferenceSession(str(tmp_path / card["file"]), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).uniform(0, 255, (37, 1, 28, 28)).astype(np.float32)
    logits = sess.run(None, {"input": x})[0]
    want = np.asarray(image_run.predict(x)["probabilities"])
    e = np.exp(logits - logits.max(1, keepdims=True))
    assert np.allclose(e / e.sum(1, keepdims=True), want, atol=1e-4)


def test_unknown_format(image_run):
    from trainlab.core.errors import TrainlabError

    with pytest.raises(TrainlabError, match="onnx, torchscript, safetensors"):
        export(image_run.path, "pickle")


# every registered network that predict, export and serve take from pixels or table rows
# (or token ids); every one of them must appear here
EXPORTED = [("mlp", "image"), ("perceptron", "table"), ("convnet", "image"), ("tp2_model1", "cifar"),
            ("tp2_model2", "cifar"), ("tp2_model3", "cifar"), ("resnet", "cifar"), ("vit", "image"), ("unet", "image"),
            ("rnn", "text"), ("transformer", "text"), ("minilm", "wordpieces")]


def test_every_predicting_network_is_checked_for_export():
    from trainlab.models import MODELS

    generative = {"autoencoder", "vae", "gan", "flow", "seq2seq_transformer"}  # predict/export/serve refuse these tasks
    assert {n for n, _ in EXPORTED} == {n for n in MODELS.names() if MODELS.get(n).builtin} - generative


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
@pytest.mark.parametrize("name,kind", EXPORTED)
def test_every_exported_network_takes_any_batch(name, kind, fmt, tmp_path):
    """Traced on 2 inputs, run on 5: a batch size read as a Python number while tracing would be frozen in."""
    import torch

    from tests.models.test_contract import SPECS
    from trainlab.export.exporter import _export_onnx, _export_torchscript
    from trainlab.models import build_model

    if fmt == "onnx":
        pytest.importorskip("onnxruntime")
    spec = SPECS[kind]
    torch.manual_seed(0)
    model = build_model(name, spec, spec.num_classes).eval()
    if spec.kind == "text":  # token ids, padded with 0
        x = torch.randint(1, spec.vocab_size, (5, *spec.input_shape))
        x[1, 5:], x[3, 2:] = 0, 0
    else:
        x = torch.randn(5, *spec.input_shape)
    runner = {"onnx": _export_onnx, "torchscript": _export_torchscript}[fmt](model, x[:2], tmp_path / "model")
    with torch.inference_mode():
        want = model(x).numpy()
    got = runner(x.numpy())
    assert got.shape == want.shape and np.abs(got - want).max() <= 1e-4


def test_text_run_exports_with_its_tokenizer(tmp_path):
    """A text model takes token ids; tokenizer.json beside it makes them from text exactly as training did."""
    import torch

    import trainlab
    from tests.conftest import recipe_dict
    from trainlab.core.config import parse_recipe
    from trainlab.core.errors import TrainlabError
    from trainlab.data.text import tokenizer_from_dict

    r = trainlab.run(parse_recipe(recipe_dict(data={"name": "sentiment_demo", "n": 300, "max_len": 16},
                                              model={"name": "rnn", "cell": "gru", "hidden": 16},
                                              train={"epochs": 2, "batch_size": 32})), runs_dir=tmp_path, progress=False)
    card = export(r.path, "torchscript", tmp_path / "out")
    assert card["parity"]["passed"] and card["input"]["dtype"] == "int64" and "tokenizer.json" in card["input"]["units"]
    tokenizer = tokenizer_from_dict(json.loads((tmp_path / "out" / "tokenizer.json").read_text()))
    texts = ["the film was great !", "the plot was not great ."]
    logits = torch.jit.load(str(tmp_path / "out" / card["file"]))(torch.as_tensor(tokenizer.encode(texts)))
    assert np.allclose(torch.sigmoid(logits).flatten().detach().numpy(),
                       [p[1] for p in r.predict(texts)["probabilities"]], atol=1e-5)
    pytest.importorskip("onnxruntime")
    card = export(r.path, "onnx", tmp_path / "onnx")  # the GRU through its unpacked form
    assert card["parity"]["passed"] and card["input"]["dtype"] == "int64"


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_a_bidirectional_rnn_goes_to_onnx_and_reads_each_text_both_ways(cell, tmp_path):
    """Traced on 2 texts, run on 5 of other lengths: ONNX gives what the packed-sequence model gives."""
    import torch

    from tests.models.test_contract import SPECS
    from trainlab.export.exporter import _export_onnx
    from trainlab.models import build_model

    pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    model = build_model("rnn", SPECS["text"], 2, cell=cell, layers=2, bidirectional=True).eval()
    run = _export_onnx(model, torch.randint(1, 50, (2, 12)), tmp_path / "model.onnx")
    ids = torch.randint(1, 50, (5, 12))
    ids[1, 4:], ids[2, 1:], ids[4, 9:] = 0, 0, 0
    with torch.no_grad():
        want = model(ids).numpy()
    assert np.allclose(run(ids.numpy()), want, atol=1e-5)


def test_a_table_with_missing_values_is_filled_the_same_in_training_prediction_and_export(tmp_path):
    """data.missing = "median": the training median fills a missing number in training, in predict and
    serve (an empty cell, NA, null), and inside the exported model (NaN)."""
    import trainlab
    from tests.conftest import recipe_dict
    from trainlab.core.config import parse_recipe

    ort = pytest.importorskip("onnxruntime")
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 300))
    cells = [("" if i % 6 == 0 else f"{a[i]:.4f}", "NA" if i % 9 == 0 else f"{b[i]:.4f}", int(a[i] + b[i] > 0))
             for i in range(300)]
    (tmp_path / "t.csv").write_text("a,b,y\n" + "".join(f"{x},{z},{y}\n" for x, z, y in cells))
    r = recipe_dict(data={"name": "table", "path": str(tmp_path / "t.csv"), "label": "y", "missing": "median"},
                    train={"epochs": 20})
    run = trainlab.run(parse_recipe(r), runs_dir=tmp_path, progress=False)
    assert run.metrics["test"]["accuracy"] > 0.8
    p = run.predictor
    med = p.normalizer.fill
    gaps = p.predict([{"a": None, "b": 0.5}, {"a": 1.0, "b": ""}, {"a": "NA", "b": "nan"}])["probabilities"]
    filled = p.predict(np.array([[med[0], 0.5], [1.0, med[1]], med], np.float32))["probabilities"]
    assert np.allclose(gaps, filled) and not np.allclose(gaps[0], gaps[1])
    card = export(run.path, "onnx", tmp_path / "onnx")
    sess = ort.InferenceSession(str(tmp_path / "onnx" / card["file"]), providers=["CPUExecutionProvider"])
    logit = sess.run(None, {"input": np.array([[np.nan, 0.5], [1.0, np.nan], [np.nan, np.nan]], np.float32)})[0]
    assert np.allclose(1 / (1 + np.exp(-logit[:, 0])), np.asarray(filled)[:, 1], atol=1e-5)  # one logit: P(class 1)
    assert card["preprocessing"]["fill"] == pytest.approx(med)
