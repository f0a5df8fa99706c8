"""trainlab sweep: two workers share one SQLite study; together they run exactly the trials asked
for, the test split is used once (the best recipe's final run), and the report and best recipe exist."""
import json
import subprocess

import pytest

from tests.cli.test_cli import TRAINLAB, cli_here, write_recipe
from tests.engine.test_distributed import MOONS

pytest.importorskip("optuna")

SPACE = """
[params]
"optim.lr" = { low = 1e-3, high = 0.3, log = true }
"model.hidden" = { choices = [[8], [32], [64, 32]] }
[sweep]
metric = "val_loss"
"""


def test_two_workers_share_eight_trials(tmp_path):
    import optuna
    from optuna.trial import TrialState

    recipe = write_recipe(tmp_path / "r.toml", MOONS.format(epochs=3, batch=64))
    space = write_recipe(tmp_path / "space.toml", SPACE)
    cmd = [*TRAINLAB, "sweep", str(recipe), "--space", str(space), "--trials", "8", "--runs-dir", str(tmp_path / "runs"), "-q"]
    workers = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = []
    for w in workers:
        out, err = w.communicate(timeout=300)
        assert w.returncode == 0, err
        outs.append(json.loads(out.strip().splitlines()[-1]))
    folder = tmp_path / "runs" / "small-sweep"
    study = optuna.load_study(study_name="small-sweep", storage=f"sqlite:///{folder / 'study.db'}")
    done = [t for t in study.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert sorted(t.number for t in done) == list(range(8))  # none lost, none run twice
    assert len(list(folder.glob("trial-*"))) == 8
    finals = [o for o in outs if "final_run" in o]
    assert len(finals) == 1 and [o.get("final") for o in outs if "final_run" not in o] == ["done by another worker"]
    assert len(list((tmp_path / "runs").glob("small-2*"))) == 1  # the one test evaluation
    best = (folder / "best.toml").read_text()
    assert f"(trial {study.best_trial.number})" in best and "[optim]" in best
    assert "Optimisation history" in (folder / "sweep.html").read_text()


def test_a_bad_search_space_is_a_clear_error(tmp_path):
    recipe = write_recipe(tmp_path / "r.toml", MOONS.format(epochs=1, batch=64))
    space = write_recipe(tmp_path / "space.toml", '[params]\n"optim.lrr" = { low = 0.001, high = 0.1 }\n')
    r = cli_here("sweep", recipe, "--space", space, "--trials", "2", "--runs-dir", tmp_path)
    assert r.returncode == 2 and "optim.lrr" in r.stderr and "Traceback" not in r.stderr


def test_a_data_parallel_recipe_is_refused(tmp_path):
    """Its processes would each start a sweep worker: trials spread over workers instead."""
    recipe = write_recipe(tmp_path / "r.toml", MOONS.format(epochs=1, batch=64))
    space = write_recipe(tmp_path / "space.toml", SPACE)
    r = cli_here("sweep", recipe, "--space", space, "--trials", "2", "--runs-dir", tmp_path, "--set", "train.strategy=fsdp")
    assert r.returncode == 2 and "one process" in r.stderr and "Traceback" not in r.stderr
    assert not list(tmp_path.glob("*-sweep"))  # refused before any trial
