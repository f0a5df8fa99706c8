"""The benchmark scripts whose figures RESULTS.md quotes still run, on tiny work, and print what they claim."""
import json
import subprocess
import sys

import pytest

from tests.conftest import REPO, needs_fashion


def _bench(*args) -> dict:
    out = subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, timeout=600, cwd=REPO)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_engine_vs_peers_times_every_contender_on_the_same_work():
    r = _bench(REPO / "benchmarks" / "engine_vs_peers.py", "--recipe", REPO / "recipes" / "moons-mlp.toml",
               "--epochs", "2", "--skip-lightning", "--with-compile", "--set", "data.n=400", "--device", "cpu")
    assert set(r["epoch_seconds"]) == {"textbook", "hand_tensor_loop", "hand_compiled_loop", "trainlab"}
    assert r["overrides"] == ["data.n=400"] and all(v > 0 for v in r["epoch_seconds"].values())
    assert r["speedup_vs_textbook"]["textbook"] == 1.0
    assert all(0.5 < a <= 1.0 for a in r["test_accuracy_last_round"].values())  # two moons: every loop learns


def test_roofline_counts_the_mlp_step():
    r = _bench(REPO / "benchmarks" / "roofline.py", "--recipe", REPO / "recipes" / "moons-mlp.toml", "--batch", "32")
    # 2→16→1 at batch 32: 7,168 FLOPs a step (the formula in tests/cli/test_cli.py), at 989 TFLOP/s
    assert r["seconds_per_step_if_bound_by"]["flops"] * 989e12 == pytest.approx(7168, rel=1e-2)
    assert r["bound"] == "launches" and r["operator_calls_per_step"] > 5  # a tiny step is all launches


def test_tta_gain_reads_a_finished_run(image_run):
    r = _bench(REPO / "benchmarks" / "tta_gain.py", image_run.path)
    assert r["accuracy"] == pytest.approx(image_run.metrics["test"]["accuracy"], abs=1e-6)  # that run tested without
    assert 0 <= r["accuracy_flip_tta"] <= 1 and r["gain_points"] == pytest.approx(
        100 * (r["accuracy_flip_tta"] - r["accuracy"]), abs=0.01)


@needs_fashion
def test_near_duplicates_finds_the_planted_copies_on_fashion_mnist():
    r = _bench(REPO / "benchmarks" / "near_duplicates.py", "--planted", "5")
    assert r["real_pairs"] == 16 and r["planted_each"] == 5
    assert r["planted_shifted_found"] == r["planted_mirrored_shifted_found"] == 5
