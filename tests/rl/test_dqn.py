import json
import signal
import subprocess
import sys
import time

import pytest
import torch

import trainlab
from tests.cli.test_cli import cli_here
from trainlab.core.config import parse_recipe
from trainlab.rl.dqn import ReplayBuffer, epsilon, td_loss
from trainlab.rl.registry import AGENTS

SMALL = {"name": "dqn-small", "seed": 0, "env": {"name": "trainlab/MouseGame-v0", "size": 6, "n_cheese": 4, "n_poison": 2,
                                                  "horizon": 30},
         "agent": {"name": "dqn", "steps": 6000, "n_envs": 16, "learning_starts": 500, "eval_every": 1500,
                   "eval_games": 20, "buffer_size": 4000, "batch_size": 64},
         "model": {"name": "convnet", "channels": [8], "hidden": [32]}, "optim": {"name": "adam", "lr": 0.003}}


def test_td_target_uses_the_target_network_and_stops_at_terminal_states():
    cfg = AGENTS.get("dqn").build(gamma=0.5, double=False, loss="mse")
    q = torch.nn.Linear(2, 4, bias=False)
    target = torch.nn.Linear(2, 4, bias=False)
    with torch.no_grad():
        q.weight.zero_()
        target.weight.copy_(torch.tensor([[1.0, 0], [2, 0], [0, 0], [0, 0]]))
    batch = (torch.zeros(2, 2), torch.tensor([0, 1]), torch.tensor([1.0, 1.0]), torch.tensor([[1.0, 0], [1.0, 0]]),
             torch.tensor([0.0, 1.0]))
    # Q(s,a) = 0; targets: 1 + 0.5·max(1, 2) = 2 (not done) and 1 (done)
    assert td_loss(q, target, batch, cfg).item() == pytest.approx((2 ** 2 + 1 ** 2) / 2)


def test_epsilon_decays_linearly_to_its_floor():
    cfg = AGENTS.get("dqn").build(steps=1000, eps_fraction=0.5, eps_start=1.0, eps_end=0.1)
    assert epsilon(cfg, 0) == 1.0 and epsilon(cfg, 250) == pytest.approx(0.55) and epsilon(cfg, 900) == pytest.approx(0.1)


def test_replay_buffer_is_a_ring():
    buf = ReplayBuffer(5, (1,), "cpu")
    for i in range(3):
        buf.add(torch.full((2, 1), i), torch.tensor([i, i]), torch.zeros(2), torch.zeros(2, 1), torch.zeros(2))
    assert buf.size == 5 and buf.ptr == 1 and sorted(buf.obs.flatten().tolist()) == [0, 1, 1, 2, 2]


def test_short_dqn_run_learns_and_reports(tmp_path):
    r = trainlab.run(parse_recipe(SMALL), runs_dir=tmp_path, progress=False)
    ev = r.metrics["eval"]
    assert ev["greedy"]["n"] == 100 and ev["greedy"]["mean"] > ev["random"]["mean"] + 0.3
    html = (r.path / "report.html").read_text()
    assert "data:image/gif;base64," in html and 'id="qvalues"' in html and (r.path / "game.gif").is_file()
    assert len(r.metrics["history"]) == 4


def test_killed_dqn_run_resumes_to_the_same_result(tmp_path):
    recipe = tmp_path / "small.toml"
    from trainlab.core.config import to_toml

    recipe.write_text(to_toml(SMALL))
    cmd = [sys.executable, "-m", "trainlab.cli.main", "run", str(recipe), "-q"]
    assert cli_here("run", recipe, "-q", "--runs-dir", tmp_path / "ref").returncode == 0  # (here: no start-up)
    want = json.loads(next((tmp_path / "ref").glob("*/metrics.json")).read_text())
    proc = subprocess.Popen(cmd + ["--runs-dir", str(tmp_path / "cut")], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline:
        index = list((tmp_path / "cut").glob("*/checkpoints/last.json"))
        if index and json.loads(index[0].read_text())["meta"]["step"] >= 1500:
            break
        assert proc.poll() is None
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    run_dir = index[0].parents[1]
    assert cli_here("resume", run_dir, "-q").returncode == 0
    got = json.loads((run_dir / "metrics.json").read_text())
    assert got["eval"] == want["eval"]
    assert [h["greedy_return"] for h in got["history"]] == [h["greedy_return"] for h in want["history"]]
