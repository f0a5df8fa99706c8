"""Export a run's best model as ONNX, TorchScript or safetensors. The exported graph takes
inputs in the training data's own units: the stored normalisation is part of it (a text model
takes token ids; its tokenizer is written beside it). A JSON model card describes the artifact,
and a parity check compares it with PyTorch on the run's test inputs (tolerance 1e-4, float32);
its result is printed and stored in the card."""
from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import warnings
from datetime import datetime
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..core.errors import TrainlabError
from ..core.files import digest
from ..serve.predictor import Predictor

log = logging.getLogger("trainlab")
FORMATS = ("onnx", "torchscript", "safetensors")
TOLERANCE = 1e-4


class WithPreprocessing(nn.Module):
    """(raw inputs) → normalise with the training statistics → model → logits. Token ids pass as they are."""

    def __init__(self, model: nn.Module, normalizer, input_shape):
        super().__init__()
        self.model = model
        self.tokens = normalizer.axes == "tokens"
        if not self.tokens:
            shift, scale = normalizer.broadcast(tuple(input_shape))
            self.register_buffer("shift", torch.as_tensor(shift))
            self.register_buffer("scale", torch.as_tensor(scale))
        # tables with missing values: NaN → the training median, before normalisation
        self.register_buffer("fill", torch.tensor([normalizer.fill], dtype=torch.float32) if normalizer.fill else None)

    def forward(self, x):
        if self.tokens:
            return self.model(x)
        if self.fill is not None:
            x = torch.where(torch.isnan(x), self.fill, x)
        return self.model((x - self.shift) / self.scale)


def _test_inputs(p: Predictor, limit: int = 512) -> np.ndarray:
    """The run's own test inputs, in raw units, re-split from the recipe exactly as in training."""
    from ..data.prepare import prepare_from_recipe

    data = prepare_from_recipe(p.recipe, p.meta["seed"])
    x = data.normalizer.invert(data.split.x_test[:limit])
    return x if data.normalizer.axes == "tokens" else x.astype(np.float32)  # token ids stay integers


@contextlib.contextmanager
def _quiet_fds():
    """Standard output and error (the file descriptors, which C++ code writes to) sent to /dev/null."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 1)
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def _export_onnx(module, example, path: Path):
    kw = dict(input_names=["input"], output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    # the exporter's own chatter ("torchvision is not installed. Skipping torchvision::nms"): not the user's concern
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with _quiet_fds():  # a graph it cannot convert is dumped to the terminal whatever `verbose` says
                torch.onnx.export(module, (example,), str(path), dynamo=False, verbose=False, **kw)
        except Exception:  # newer torch keeps only the dynamo exporter
            try:
                torch.onnx.export(module, (example,), str(path), dynamo=True, input_names=["input"], verbose=False,
                                  output_names=["logits"], dynamic_shapes=({0: torch.export.Dim("batch")},))
            except Exception as err:  # e.g. a recurrent net over packed sequences
                what = type(getattr(module, "model", module)).__name__
                raise TrainlabError(f"This {what} cannot be exported to ONNX by torch {torch.__version__} "
                                    f"({type(err).__name__}); --format torchscript can.") from None

    def run(x):
        import onnxruntime as ort

        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return sess.run(None, {"input": x})[0]

    return run


def _export_torchscript(module, example, path: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit is deprecated upstream but still the portable C++ format
        # the parity check below replaces the tracer's own re-run check, which fails on graphs that are equal
        # but numbered differently (nn.TransformerEncoder's fast path)
        traced = torch.jit.trace(module, example, check_trace=False)
        torch.jit.save(traced, str(path))

    def run(x):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loaded = torch.jit.load(str(path))
        with torch.inference_mode():
            return loaded(torch.as_tensor(x)).numpy()

    return run


def _export_safetensors(module, example, path: Path):
    from safetensors.torch import load_file, save_file

    save_file({k: v.contiguous() for k, v in module.state_dict().items()}, str(path))

    def run(x):
        import copy

        clone = copy.deepcopy(module)
        clone.load_state_dict(load_file(str(path)))
        with torch.inference_mode():
            return clone(torch.as_tensor(x)).numpy()

    return run


def export(run_dir: str | Path, fmt: str, out_dir: str | Path | None = None) -> dict:
    if fmt not in FORMATS:
        raise TrainlabError(f"Unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}.")
    if fmt == "onnx":
        try:
            import onnx  # noqa: F401
            import onnxruntime  # noqa: F401
        except ImportError:
            raise TrainlabError("ONNX export needs onnx and onnxruntime: pip install 'trainlab[export]'.") from None
    p = Predictor(run_dir)
    if not (p.task.supervised or p.task.name == "segmentation"):
        raise TrainlabError(f"export writes classification, regression and segmentation models; this run's task is "
                            f"{p.task.name!r}: trainlab predict (or serve) scores its inputs.")
    out = Path(out_dir) if out_dir else p.run_dir / "export"
    out.mkdir(parents=True, exist_ok=True)
    module = WithPreprocessing(p.model, p.normalizer, p.spec.input_shape).eval()
    x = _test_inputs(p)
    suffix = {"onnx": "onnx", "torchscript": "torchscript.pt", "safetensors": "safetensors"}[fmt]
    path = out / f"model.{suffix}"
    runner = {"onnx": _export_onnx, "torchscript": _export_torchscript, "safetensors": _export_safetensors}[fmt](
        module, torch.as_tensor(x[:2]), path)
    with torch.inference_mode():
        want = module(torch.as_tensor(x)).numpy()
    try:
        got = runner(x)
    except Exception as err:  # the artifact was written but does not run: say so, keep it for inspection
        raise TrainlabError(f"The exported {fmt} model {path} fails on the run's test inputs: "
                            f"{type(err).__name__}: {str(err)[:300]}") from None
    if p.tokenizer is not None:  # what turns text into the ids the model takes
        (out / "tokenizer.json").write_text(json.dumps(p.tokenizer.to_dict()))
    diff = float(np.abs(got - want).max())
    parity = {"samples": int(len(x)), "max_abs_diff": diff, "tolerance": TOLERANCE, "passed": diff <= TOLERANCE,
              "against": "PyTorch eager on the run's test inputs, float32"}
    card = _model_card(p, fmt, path, parity)
    (out / f"model.{suffix}.card.json").write_text(json.dumps(card, indent=1))
    return card


def _model_card(p: Predictor, fmt: str, path: Path, parity: dict) -> dict:
    test = {k: v for k, v in p.metrics.get("test", {}).items() if isinstance(v, (int, float))}
    binary = p.spec.target == "class" and p.task.output_size() == 1
    return {
        "format": fmt, "file": path.name, "sha256": digest(path), "bytes": path.stat().st_size,
        "created": datetime.now().isoformat(timespec="seconds"), "torch": torch.__version__,
        "input": {"name": "input", "shape": ["batch", *p.spec.input_shape],
                  **({"dtype": "int64", "units": "token ids from tokenizer.json (0 pads each text to its length)"}
                     if p.tokenizer else
                     {"dtype": "float32", "units": "the training data's own units (e.g. 0-255 pixel values); "
                                                   "normalisation is inside the model"})},
        "output": {"name": "logits", "shape": ["batch", p.task.output_size()], "dtype": "float32",
                   "meaning": (f"one logit: sigmoid gives P({p.spec.class_names[1]}); the run predicts "
                               f"{p.spec.class_names[1]} when P > {p.task.threshold:.6g}") if binary else
                   ("logits: softmax gives class probabilities" if p.spec.target == "class" else
                    f"standardised target: value = output * {p.normalizer.target_scale} + {p.normalizer.target_shift}")},
        "preprocessing": {**p.normalizer.to_dict(), "embedded": fmt != "safetensors"},
        "test_time_augmentation": ("flip: the logits are the mean over the image and its left-right mirror, as tested"
                                   if p.tta == "flip" else p.tta),
        "classes": list(p.spec.class_names), "features": list(p.spec.feature_names),
        **({"categories": p.spec.category_values,
            "one_hot": "a feature named column=value is 1 when the row's column holds that value, else 0"}
           if p.spec.categories else {}),
        "task": p.task.name, "test_metrics": test, "recipe_hash": p.recipe_hash, "recipe": p.recipe,
        "parity": parity,
    }
