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
