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
