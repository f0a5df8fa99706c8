"""Data parallelism on the CPU: two gloo processes on loopback, launched by `trainlab run --devices 2`
exactly as a user would, with DDP and with FSDP (sharded). Two processes × batch 32 must follow one
process × batch 64, and a killed two-process run must resume to the same result (and on another
number of processes)."""
import json
import os
import shutil
import signal
import subprocess
import sys

import pytest

from tests.cli.test_cli import SMALL, TRAINLAB, _wait_for_epoch, cli, cli_here, write_recipe

# 800 training points: an even count, so no process drops a tail sample
MOONS = (SMALL.replace('name = "digits"', 'name = "moons"\nn = 1000').replace('name = "adam"\nlr = 0.01', 'name = "sgd"\nlr = 0.05')
         + "[report]\ninterpret = false\n")


def _finished(parent):
    runs = list(parent.glob("small-*"))
    assert len(runs) == 1, runs  # the processes share one run directory
    return runs[0], json.loads((runs[0] / "metrics.json").read_text())


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    """The references the processes must follow: one process, run here (no interpreter to start), once
    per number of epochs, batch size and options."""
    done = {}

    def run(epochs: int, batch: int, *extra: str, n: int = 1000) -> dict:
        key = (epochs, batch, *extra, n)
        if key not in done:
            d = tmp_path_factory.mktemp("one")
            text = MOONS.format(epochs=epochs, batch=batch).replace("n = 1000", f"n = {n}")
            r = cli_here("run", write_recipe(d / "r.toml", text), "--runs-dir", d, "-q", *extra)
            assert r.returncode == 0, r.stderr
            done[key] = _finished(d)[1]
        return done[key]
    return run


# FSDP with what touches the sharded parameters outside the forward: an L2 penalty (each process
# penalises its shard), gradient clipping (a norm over shards) and Adam's state (gathered into checkpoints)
SHARDED = ["--set", "train.l2=0.001", "--set", "train.grad_clip=0.5", "--set", "optim.name=adam", "--set", "optim.lr=0.01"]


@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_two_processes_follow_one_process_with_twice_the_batch(tmp_path, strategy, one_process):
    extra = SHARDED if strategy == "fsdp" else []
    a = one_process(3, 64, *extra)
    two = cli("run", write_recipe(tmp_path / "b.toml", MOONS.format(epochs=3, batch=32)), "--runs-dir", tmp_path / "two",
              "--devices", "2", "--strategy", strategy, *extra)
    assert two.returncode == 0, two.stderr
    # one process logs the epochs; Fabric's per-process banners stay out of the way
    assert two.stderr.count("epoch 1/3") == 1 and "Initializing distributed" not in two.stderr + two.stdout
    run_dir, b = _finished(tmp_path / "two")
    assert b["fit"]["processes"] == 2 and b["fit"]["global_batch_size"] == 64 and b["fit"]["steps"] == a["fit"]["steps"]
    for ra, rb in zip(a["history"], b["history"]):
        assert rb["train_loss"] == pytest.approx(ra["train_loss"], rel=1e-6)
        assert rb["val_loss"] == pytest.approx(ra["val_loss"], rel=1e-6)
    assert b["test"]["accuracy"] == a["test"]["accuracy"]
    assert two.stdout.count("test metrics") == 1 and f"on cpu × 2 processes ({strategy.upper()})" in two.stdout
    assert b["fit"]["strategy"] == strategy and a["fit"]["strategy"] == "none"
    # FSDP splits each tensor along its first dimension; rank 0 gets the larger part (the 1×32 output layer whole)
    held = b["fit"]["parameters_per_process"] / b["fit"]["parameters"]
    assert held == 1 if strategy == "ddp" else held == 81 / 129
    assert f"data-parallel with {strategy.upper()} over 2 processes, global batch 64" in (run_dir / "report.html").read_text()
    if strategy == "ddp":  # and 2 processes × 2 accumulated batches of 16: the same 64 samples per step
        acc = cli("run", write_recipe(tmp_path / "c.toml", MOONS.format(epochs=3, batch=16)), "--runs-dir", tmp_path / "acc",
                  "-q", "--devices", "2", "--set", "train.accumulate=2")
        assert acc.returncode == 0, acc.stderr
        c = _finished(tmp_path / "acc")[1]
        assert c["fit"]["global_batch_size"] == 64 and c["fit"]["steps"] == a["fit"]["steps"]
        assert [r["val_loss"] for r in c["history"]] == pytest.approx([r["val_loss"] for r in a["history"]], rel=1e-6)


@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_one_process_under_a_strategy_matches_the_plain_run(tmp_path, strategy, one_process):
    """Issue 10's GPU check, on the CPU: `--devices 1 --strategy ddp` (or fsdp) is the plain run. (In its
    own process: a strategy starts a process group, which would outlive the test here.)"""
    recipe = write_recipe(tmp_path / "r.toml", MOONS.format(epochs=3, batch=64))
    other = cli("run", recipe, "--runs-dir", tmp_path / strategy, "-q", "--devices", "1", "--strategy", strategy)
    assert other.returncode == 0, other.stderr
    a, b = one_process(3, 64), _finished(tmp_path / strategy)[1]
    assert b["fit"]["processes"] == 1
    # FSDP keeps autograd where the plain run writes the MLP's backward out: float32 rounding apart
    rel = 1e-9 if strategy == "ddp" else 1e-6
    assert [r["val_loss"] for r in b["history"]] == pytest.approx([r["val_loss"] for r in a["history"]], rel=rel)
    assert b["test"]["accuracy"] == a["test"]["accuracy"]


# FSDP's variant (25 s on 2 cores) is in the slow set; its checkpoints hold whole tensors like DDP's,
# and test_sharding checks that a sharded model and optimiser load from them in one process
@pytest.mark.parametrize("strategy", ["ddp", pytest.param("fsdp", marks=pytest.mark.slow)])
def test_killed_two_process_run_resumes_on_two_or_one(tmp_path, strategy, one_process):
    """Checkpoints hold whole tensors: a sharded run also continues in one process without sharding."""
    text = MOONS.format(epochs=4, batch=2).replace("n = 1000", "n = 2000")  # slow enough epochs to interrupt
    recipe = write_recipe(tmp_path / "r.toml", text)
    two = ["--devices", "2", "--strategy", strategy]
    # the uninterrupted run: one process with twice the batch (1,600 steps of float32 rounding apart)
    want = one_process(4, 4, n=2000)

    proc = subprocess.Popen([*TRAINLAB, "run", str(recipe), "--runs-dir", str(tmp_path / "cut"), "-q", *two],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    run_dir = _wait_for_epoch(tmp_path / "cut", 2, proc)
    os.killpg(proc.pid, signal.SIGKILL)  # every process of the run
    proc.communicate(timeout=60)
    done = json.loads((run_dir / "checkpoints" / "last.json").read_text())["meta"]["epoch"]
    assert 2 <= done < 4
    other = shutil.copytree(run_dir, tmp_path / "copy" / run_dir.name)

    r = cli("resume", run_dir, "-q", "--devices", "2")  # the strategy is the recipe's
    assert r.returncode == 0, r.stderr
    got = json.loads((run_dir / "metrics.json").read_text())
    assert [h["val_loss"] for h in got["history"]] == pytest.approx([h["val_loss"] for h in want["history"]], rel=1e-5)
    assert got["test"]["accuracy"] == want["test"]["accuracy"]

    r = cli_here("resume", other, "-q", "--devices", "1", "--strategy", "auto")  # the same checkpoint, in one process
    assert r.returncode == 0, r.stderr
    got = json.loads((other / "metrics.json").read_text())
    assert len(got["history"]) == 4 and got["fit"]["processes"] == 1  # (its batch per device: half the steps' size)
    assert [h["val_loss"] for h in got["history"][:done]] == pytest.approx([h["val_loss"] for h in want["history"][:done]],
                                                                          rel=1e-5)


def test_torchrun_and_slurm_launches_train_like_fabric_launches(tmp_path, one_process):
    """The processes started by torchrun, or by SLURM's srun (its variables, set here by hand for two
    tasks on this machine), join one run and follow one process with twice the batch, as the processes
    Fabric starts itself do."""
    recipe = write_recipe(tmp_path / "r.toml", MOONS.format(epochs=2, batch=32))
    args = ["run", str(recipe), "-q", "--devices", "2", "--runs-dir"]
    want = [h["val_loss"] for h in one_process(2, 64)["history"]]

    torchrun = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                               *TRAINLAB[1:], *args, str(tmp_path / "torchrun")], capture_output=True, text=True, timeout=300)
    assert torchrun.returncode == 0, torchrun.stderr
    srun = [subprocess.Popen([*TRAINLAB, *args, str(tmp_path / "slurm")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env={**os.environ, "SLURM_NTASKS": "2", "SLURM_NTASKS_PER_NODE": "2",
                                             "SLURM_PROCID": str(i), "SLURM_LOCALID": str(i), "SLURM_NODEID": "0",
                                             "SLURM_NODELIST": "localhost", "SLURM_JOB_NAME": "trainlab-test",
                                             "SLURM_JOB_ID": str(40000 + os.getpid() % 20000)})
            for i in (0, 1)]
    outs = [p.communicate(timeout=300) for p in srun]
    assert all(p.returncode == 0 for p in srun), outs[0][1][-2000:] + outs[1][1][-2000:]
    assert torchrun.stdout.count("test metrics") == 1 and [o.count("test metrics") for o, _ in outs] == [1, 0]
    for launcher in ("torchrun", "slurm"):
        _, got = _finished(tmp_path / launcher)
        assert got["fit"]["processes"] == 2
        assert [h["val_loss"] for h in got["history"]] == pytest.approx(want, rel=1e-6)
