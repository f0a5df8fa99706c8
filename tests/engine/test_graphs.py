"""The CUDA-graph step (engine/graphs.py) run eagerly on the CPU: the same static buffers, device
batch counter, fused optimiser with a device learning rate and in-step loss sum as the captured
step, checked against the ordinary loop. Capture itself is checked in tests/gpu."""
import json

import pytest

import trainlab
from trainlab.core.config import parse_recipe
from trainlab.procedure import Interrupted
from trainlab.engine import graphs
from tests.conftest import recipe_dict

# iris: 105 training rows, batch 16 → 6 full batches and a tail of 9 every epoch
SECTIONS = {
    "sgd": dict(optim={"name": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-4},
                schedule={"name": "onecycle"}),
    "adam": dict(optim={"name": "adam", "lr": 0.01}, schedule={"name": "cosine", "min_lr": 1e-4}),
    "adamw": dict(optim={"name": "adamw", "lr": 0.01}, schedule={"name": "step", "step_size": 1, "gamma": 0.7}),
}


def _run(tmp_path, name, **train):
    r = recipe_dict(model={"name": "mlp", "hidden": [16], "dropout": 0.2}, **SECTIONS[name],
                    train={"epochs": 4, "batch_size": 16, "grad_clip": 1.0, "l2": 1e-3,
                           "early_stopping": {"patience": 0}, **train})
    return trainlab.run(parse_recipe(r), runs_dir=tmp_path, progress=False)


@pytest.fixture
def static(monkeypatch):
    """Make fit() take the graph step's path on the CPU (without capture)."""
    monkeypatch.setattr(graphs, "unsupported", lambda *a: None)


@pytest.mark.parametrize("name", sorted(SECTIONS))
def test_static_step_follows_the_ordinary_loop(tmp_path, monkeypatch, name):
    eager = _run(tmp_path, name)
    assert eager.metrics["fit"]["cuda_graph"] == "not captured: not on CUDA"
    monkeypatch.setattr(graphs, "unsupported", lambda *a: None)
    fast = _run(tmp_path, name)
    assert fast.metrics["fit"]["cuda_graph"] == "not captured: the static step ran without capture (no CUDA)"
    # a changing learning rate (per step or per epoch) reaches the fused update through the device tensor
    assert len({row["lr"] for row in fast.history}) == 4
    for a, b in zip(eager.history, fast.history):
        assert b["lr"] == pytest.approx(a["lr"], rel=1e-6)
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-5)
        assert b["val_loss"] == pytest.approx(a["val_loss"], rel=1e-5)
    assert fast.metrics["test"]["accuracy"] == eager.metrics["test"]["accuracy"]


def test_static_step_in_bf16_follows_the_ordinary_loop(tmp_path, monkeypatch):
    # the same autocast as the ordinary loop's, on the data's device, without the weight-cast cache
    eager = _run(tmp_path, "adam", precision="bf16")
    monkeypatch.setattr(graphs, "unsupported", lambda *a: None)
    fast = _run(tmp_path, "adam", precision="bf16")
    assert fast.metrics["fit"]["precision"] == "bf16-mixed"
    for a, b in zip(eager.history, fast.history, strict=True):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-4)
        assert b["val_loss"] == pytest.approx(a["val_loss"], rel=1e-4)


def test_static_step_respects_max_steps(tmp_path, static):
    r = _run(tmp_path, "sgd", max_steps=10)
    assert r.metrics["fit"]["steps"] == 10 and len(r.history) == 2


def test_checkpoint_of_a_static_run_holds_the_ordinary_optimizer_and_resumes(tmp_path, monkeypatch):
    monkeypatch.setattr(graphs, "unsupported", lambda *a: None)
    whole = _run(tmp_path / "whole", "adam")
    calls = {"n": 0}
    epoch = graphs.StaticStep.epoch

    def stop_in_epoch_3(self, *a, **k):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return epoch(self, *a, **k)

    monkeypatch.setattr(graphs.StaticStep, "epoch", stop_in_epoch_3)
    with pytest.raises(Interrupted):
        _run(tmp_path / "cut", "adam")
    run_dir = next((tmp_path / "cut").glob("*/checkpoints")).parent
    meta = json.loads((run_dir / "checkpoints" / "last.json").read_text())["meta"]
    group = meta["optimizers"][0]["param_groups"][0]
    assert isinstance(group["lr"], float) and group["foreach"] is True and not group["fused"] and not group["capturable"]
    monkeypatch.undo()  # the rest runs in the ordinary loop
    resumed = trainlab.resume(run_dir, progress=False)
    assert [r["val_loss"] for r in resumed.history[:2]] == [r["val_loss"] for r in whole.history[:2]]
    for a, b in zip(whole.history[2:], resumed.history[2:]):
        assert b["val_loss"] == pytest.approx(a["val_loss"], rel=1e-5)


def test_static_step_decodes_8_bit_images_like_the_ordinary_loop(tmp_path, monkeypatch, mnist_dir):
    from trainlab.engine import loop

    r = recipe_dict(data={"name": "mnist_folder", "path": str(mnist_dir)}, model={"name": "convnet", "channels": [4]},
                    optim={"name": "sgd", "lr": 0.05, "momentum": 0.9}, schedule={"name": "onecycle"},
                    train={"epochs": 2, "batch_size": 32, "early_stopping": {"patience": 0}})
    eager = trainlab.run(parse_recipe(r), runs_dir=tmp_path, progress=False)
    monkeypatch.setattr(graphs, "unsupported", lambda *a: None)
    monkeypatch.setattr(loop, "_pixels", lambda data, x, t, dev: data.normalizer.pixels(x))
    fast = trainlab.run(parse_recipe(r), runs_dir=tmp_path, progress=False)
    for a, b in zip(eager.history, fast.history):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-5)
        assert b["val_loss"] == pytest.approx(a["val_loss"], rel=1e-5)
