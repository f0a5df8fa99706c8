"""On a CUDA machine (pytest -m gpu): the fast loop and the textbook loop reach the same accuracy,
conv nets train in bf16 with channels_last, and the benchmark and bench command run on the GPU."""
import json
import subprocess
import sys

import pytest
import torch

import trainlab
from tests.conftest import REPO, needs_fashion

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


@needs_fashion
def test_fast_and_textbook_loops_agree_on_cuda(tmp_path):
    over = ["train.epochs=4", "eval.baselines=false", "report.html=false", "train.device=cuda"]
    fast = trainlab.run(REPO / "recipes" / "tp1-mlp.toml", over, runs_dir=tmp_path, progress=False)
    book = trainlab.run(REPO / "recipes" / "tp1-mlp.toml", [*over, "train.loop=textbook"], runs_dir=tmp_path, progress=False)
    assert abs(fast.metrics["test"]["accuracy"] - book.metrics["test"]["accuracy"]) < 0.005
    assert fast.metrics["fit"]["train_seconds"] < book.metrics["fit"]["train_seconds"]


@needs_fashion
def test_conv_nets_train_in_bf16_with_channels_last(tmp_path):
    r = trainlab.run(REPO / "recipes" / "fast-fashion.toml", ["train.epochs=1", "report.html=false", "eval.baselines=false"],
                     runs_dir=tmp_path, progress=False)
    assert r.metrics["fit"]["precision"] == "bf16-mixed" and r.metrics["fit"]["device"] == "cuda"
    assert r.metrics["test"]["accuracy"] > 0.8


def test_bench_measures_the_gpu(tmp_path):
    out = subprocess.run([sys.executable, "-m", "trainlab.cli.main", "bench", str(REPO / "recipes" / "moons-mlp.toml"),
                          "--steps", "20", "--json"], capture_output=True, text=True, timeout=600)
    rows = json.loads(out.stdout.strip().splitlines()[-1])["rows"]
    assert {r["device"] for r in rows} == {"cpu", "cuda"}


def _small(tmp_path, recipe, *over):
    base = ["eval.baselines=false", "report.html=false", "report.interpret=false", "train.device=cuda",
            "train.early_stopping.patience=0"]
    return trainlab.run(REPO / "recipes" / recipe, [*base, *over], runs_dir=tmp_path, progress=False)


@needs_fashion
@pytest.mark.parametrize("optim", ["sgd", "adamw"])
def test_captured_step_follows_the_eager_step_with_a_changing_rate(tmp_path, optim):
    over = ["train.epochs=3", f"optim.name={optim}", "optim.lr=0.01", "schedule.name=onecycle", "train.grad_clip=1.0"]
    graph = _small(tmp_path, "tp1-mlp.toml", *over)
    eager = _small(tmp_path, "tp1-mlp.toml", *over, "train.cuda_graph=off")
    assert graph.metrics["fit"]["cuda_graph"] == "captured"
    assert eager.metrics["fit"]["cuda_graph"].startswith("not captured")
    assert [r["lr"] for r in graph.history] == pytest.approx([r["lr"] for r in eager.history], rel=1e-6)
    for a, b in zip(eager.history, graph.history):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=5e-3)
        assert b["val_loss"] == pytest.approx(a["val_loss"], rel=5e-3)
    assert abs(graph.metrics["test"]["accuracy"] - eager.metrics["test"]["accuracy"]) < 0.005
    assert graph.metrics["fit"]["train_seconds"] < eager.metrics["fit"]["train_seconds"]


def test_class_weights_inside_a_captured_step(tmp_path):
    # the weights are copied to the GPU in the eager warm-up steps; the captured step reads that copy
    over = ["train.epochs=5", "task.class_weights=balanced", "task.threshold=youden"]
    graph = _small(tmp_path, "binary-breast-cancer.toml", *over)
    eager = _small(tmp_path, "binary-breast-cancer.toml", *over, "train.cuda_graph=off")
    assert graph.metrics["fit"]["cuda_graph"] == "captured"
    for a, b in zip(eager.history, graph.history):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=5e-3)
    assert graph.metrics["test"]["threshold_by"] == "youden"


@needs_fashion
def test_captured_bf16_conv_step_trains(tmp_path):
    r = _small(tmp_path, "fast-fashion.toml", "train.epochs=2")
    assert r.metrics["fit"]["cuda_graph"] == "captured" and r.metrics["fit"]["precision"] == "bf16-mixed"
    assert r.metrics["fit"]["capture_seconds"] > 0
    assert r.metrics["test"]["accuracy"] > 0.85


def test_a_step_that_reads_the_host_falls_back_to_eager(tmp_path):
    # the GRU packs its sequences with lengths read on the host: capture fails, the run goes on
    r = _small(tmp_path, "sentiment-gru.toml", "train.epochs=2")
    assert r.metrics["fit"]["cuda_graph"].startswith("not captured: capture failed")
    assert r.history[-1]["train_loss"] < r.history[0]["train_loss"]


@needs_fashion
def test_a_training_set_streamed_from_host_memory_matches_the_resident_one(tmp_path):
    over = ["train.epochs=2", "train.cuda_graph=off"]
    resident = _small(tmp_path, "tp1-mlp.toml", *over, "train.resident=device")
    streamed = _small(tmp_path, "tp1-mlp.toml", *over, "train.resident=host")
    for a, b in zip(resident.history, streamed.history):
        assert b["val_loss"] == pytest.approx(a["val_loss"], rel=1e-4)
    captured = _small(tmp_path, "tp1-mlp.toml", "train.epochs=1", "train.resident=host")
    assert captured.metrics["fit"]["cuda_graph"] == "not captured: the training set is streamed from host memory"


@needs_fashion
def test_fast_and_textbook_loops_agree_on_a_cnn(tmp_path):
    # the fast path (uint8-resident images, bf16, channels_last, captured step) against the textbook
    # DataLoader loop with the same seed: within half a point of test accuracy
    fast = _small(tmp_path, "cnn-fashion.toml", "train.epochs=3")
    book = _small(tmp_path, "cnn-fashion.toml", "train.epochs=3", "train.loop=textbook")
    assert fast.metrics["fit"]["cuda_graph"] == "captured"
    assert abs(fast.metrics["test"]["accuracy"] - book.metrics["test"]["accuracy"]) < 0.005


@needs_fashion
@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_one_gpu_under_a_strategy_matches_the_plain_run(tmp_path, strategy):
    """Issue 10: `trainlab run RECIPE --devices 1 --strategy ddp` (or fsdp) on one GPU, against the same run without."""
    over = ["--set", "train.epochs=3", "--set", "eval.baselines=false", "--set", "report.html=false",
            "--set", "report.interpret=false", "-q"]
    recipe = str(REPO / "recipes" / "cnn-fashion.toml")
    for name, extra in (("plain", []), (strategy, ["--devices", "1", "--strategy", strategy])):
        out = subprocess.run([sys.executable, "-m", "trainlab.cli.main", "run", recipe, *over, *extra,
                              "--runs-dir", str(tmp_path / name)], capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr
    plain, other = (json.loads(next((tmp_path / n).glob("cnn-fashion-*/metrics.json")).read_text())
                    for n in ("plain", strategy))
    assert other["fit"]["device"] == "cuda" and other["fit"]["processes"] == 1
    assert abs(other["test"]["accuracy"] - plain["test"]["accuracy"]) < 0.005
