"""The command line as a user meets it: exit codes, one-paragraph errors, no tracebacks."""
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO, write_idx, write_mnist_folder

TRAINLAB = [sys.executable, "-m", "trainlab.cli.main"]


def cli(*args, cwd=None, timeout=300):
    return subprocess.run([*TRAINLAB, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=timeout)


def cli_here(*args):
    """A command in this process, through the same main() a user's shell reaches (its logging set-up,
    its handler that turns errors into one paragraph and an exit code), without an interpreter's
    start-up: 5 s for a training command on 2 cores (torch, Lightning and their imports). `cli` keeps
    the subprocess for what needs one: several processes, signals, a clean interpreter."""
    import contextlib
    import io
    import logging
    from types import SimpleNamespace
    from unittest import mock

    from trainlab.cli.main import main

    out, err, root = io.StringIO(), io.StringIO(), logging.getLogger()
    saved = root.handlers[:], root.level
    root.handlers[:] = []  # main() sets up logging once per process, as the console script does
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
                mock.patch.object(sys, "argv", ["trainlab", *map(str, args)]):
            try:
                main()
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    finally:
        for h in root.handlers:
            h.close()
        root.handlers[:], root.level = saved
    return SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())


def write_recipe(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


SMALL = """
name = "small"
[data]
name = "digits"
[model]
name = "mlp"
hidden = [32]
[optim]
name = "adam"
lr = 0.01
[train]
epochs = {epochs}
batch_size = {batch}
early_stopping = {{ patience = 0 }}
[eval]
baselines = false
"""


def assert_user_error(result, *needles):
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    for n in needles:
        assert n in result.stderr, result.stderr


def test_help_imports_no_torch():
    code = "import sys, trainlab.cli.main; assert 'torch' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
    r = cli("--help")
    assert r.returncode == 0 and "run" in r.stdout and "resume" in r.stdout


def test_bad_inputs_get_clear_errors(tmp_path):
    assert_user_error(cli("run", tmp_path / "missing.toml"), "does not exist")  # and once from a shell's process
    recipe = REPO / "recipes" / "tp1-mlp.toml"
    assert_user_error(cli_here("run", recipe, "--set", "train.epoch=3"), "train.epoch", "Did you mean 'epochs'")
    assert_user_error(cli_here("run", recipe, "--set", "model.name=mlpp"), "Unknown model 'mlpp'", "'mlp'")
    assert_user_error(cli_here("run", recipe, "--set", "train.batch_size=big"), "train.batch_size", "'big'")
    assert_user_error(cli_here("run", recipe, "--set", f"data.path={tmp_path}/nowhere", "--runs-dir", tmp_path),
                      "Fashion-MNIST not found")
    assert not list(tmp_path.glob("tp1-mlp-*"))  # a run that cannot start leaves no directory
    assert_user_error(cli_here("list", "modles"), "Did you mean 'models'")
    assert_user_error(cli_here("resume", tmp_path), "not a trainlab run directory")
    assert_user_error(cli_here("run", recipe, "--set", "optim.lr=-1"), "Bad value for 'optim.lr'")
    assert_user_error(cli_here("run", recipe, "--set", "model.hidden=[0]"), "Bad value for 'model.hidden'")
    assert_user_error(cli_here("serve", tmp_path, "--port", "99999"), "'--port'")


def test_nan_in_csv_and_corrupt_idx_and_bad_label(tmp_path):
    csv = tmp_path / "t.csv"
    csv.write_text("a,b,y\n" + "".join(f"{i},{i * 2},{i % 2}\n" for i in range(40)) + "1,nan,0\n")
    r = write_recipe(tmp_path / "t.toml", f'[data]\nname = "table"\npath = "{csv}"\nlabel = "y"\n[model]\nname = "mlp"\n')
    assert_user_error(cli_here("run", r, "--runs-dir", tmp_path), "row 42, column 'b'")

    folder = write_mnist_folder(tmp_path / "m", n_train=40, n_test=10)
    (folder / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b\x08garbage")
    r = write_recipe(tmp_path / "m.toml", f'[data]\nname = "mnist_folder"\npath = "{folder}"\n[model]\nname = "mlp"\n')
    assert_user_error(cli_here("run", r, "--runs-dir", tmp_path), "corrupt")

    folder = write_mnist_folder(tmp_path / "m2", n_train=40, n_test=10)
    y = np.arange(40) % 10
    y[7] = 11
    write_idx(folder / "train-labels-idx1-ubyte", y, gz=True)
    r = write_recipe(tmp_path / "m2.toml", f'[data]\nname = "mnist_folder"\npath = "{folder}"\nclass_names = '
                     f'{json.dumps([str(i) for i in range(10)])}\n[model]\nname = "mlp"\n')
    assert_user_error(cli_here("run", r, "--runs-dir", tmp_path), "label 11 at sample 7 is out of range")


def test_list_schema_check_and_show(tmp_path):
    for kind in ("models", "datasets", "tasks", "losses", "metrics", "optimizers", "schedules", "environments", "agents"):
        r = cli_here("list", kind)
        assert r.returncode == 0 and r.stdout.strip()
    assert "fashion_mnist" in cli_here("list", "datasets").stdout
    schema = json.loads(cli_here("recipe", "schema").stdout)
    assert "train" in schema["properties"]
    out = cli_here("recipe", "check", REPO / "recipes" / "tp1-mlp.toml").stdout
    assert 'activation = "relu"' in out and "epochs = 12" in out
    recipe = write_recipe(tmp_path / "s.toml", SMALL.format(epochs=2, batch=64))
    r = cli_here("run", recipe, "--runs-dir", tmp_path, "-q", "--repeats", "2")
    assert r.returncode == 0, r.stderr
    run_dir = next(tmp_path.glob("small-*"))
    shown = cli_here("show", run_dir)
    assert shown.returncode == 0 and "accuracy" in shown.stdout and "±" in shown.stdout
    text = cli_here("show", run_dir, "--methods").stdout
    assert text.startswith("Data: scikit-learn digits") and "Results (mean ± std over 2 split seeds" in text


def _wait_for_epoch(run_parent: Path, epoch: int, proc, timeout=120):
    t0 = time.time()
    while time.time() - t0 < timeout:
        for index in run_parent.glob("small-*/checkpoints/last.json"):
            try:
                if json.loads(index.read_text())["meta"]["epoch"] >= epoch:
                    return index.parents[1]
            except (json.JSONDecodeError, KeyError):
                pass
        assert proc.poll() is None, "the run finished before it could be interrupted"
        time.sleep(0.01)
    raise AssertionError("no checkpoint appeared")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The small recipe with 12 epochs of batch 2 (slow enough to interrupt), and its uninterrupted run's metrics."""
    d = tmp_path_factory.mktemp("uninterrupted")
    recipe = write_recipe(d / "small.toml", SMALL.format(epochs=12, batch=2))
    ref = cli_here("run", recipe, "--runs-dir", d / "ref", "-q")
    assert ref.returncode == 0, ref.stderr
    return recipe, json.loads(next((d / "ref").glob("small-*/metrics.json")).read_text())


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_interrupted_run_resumes_to_the_same_result(tmp_path, sig, uninterrupted):
    recipe, want = uninterrupted

    proc = subprocess.Popen([*TRAINLAB, "run", str(recipe), "--runs-dir", str(tmp_path / "cut"), "-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    run_dir = _wait_for_epoch(tmp_path / "cut", 3, proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    if sig == signal.SIGINT:
        assert proc.returncode == 130 and "trainlab resume" in err and "Traceback" not in err
        assert json.loads((run_dir / "run.json").read_text())["status"] == "interrupted"
    done = json.loads((run_dir / "checkpoints" / "last.json").read_text())["meta"]["epoch"]
    assert 3 <= done < 12
    r = cli_here("resume", run_dir, "-q")
    assert r.returncode == 0, r.stderr
    got = json.loads((run_dir / "metrics.json").read_text())
    assert got["test"]["accuracy"] == want["test"]["accuracy"]
    assert got["test"]["loss"] == pytest.approx(want["test"]["loss"], abs=0, rel=1e-12)
    assert [h["val_loss"] for h in got["history"]] == [h["val_loss"] for h in want["history"]]
    assert len((run_dir / "metrics.jsonl").read_text().splitlines()) == 12


def test_explain_gradcheck_runs_and_compare(tmp_path):
    recipe = write_recipe(tmp_path / "s.toml", SMALL.format(epochs=3, batch=64) + "[report]\ninterpret = false\n")
    for hidden in ("[32]", "[4]"):
        r = cli_here("run", recipe, "--runs-dir", tmp_path, "-q", "--repeats", "2", "--set", f"model.hidden={hidden}")
        assert r.returncode == 0, r.stderr
    a, b = sorted(tmp_path.glob("small-*"))
    assert 'id="interpretation"' not in (a / "report.html").read_text()
    r = cli_here("explain", a, "--samples", "4")
    assert r.returncode == 0, r.stderr
    html = (a / "report.html").read_text()
    assert 'id="interpretation"' in html and 'id="learned"' in html and (a / "interpret.json").is_file()
    r = cli_here("compare", a, b, "--out", tmp_path / "cmp.html")
    assert r.returncode == 0 and "paired t-test" in r.stdout and "is better by" in r.stdout
    assert (tmp_path / "cmp.html").is_file()
    listed = cli_here("runs", "--runs-dir", tmp_path, "--filter", "status=finished")
    assert listed.returncode == 0 and a.name[:12] in listed.stdout and "2 runs" in listed.stdout
    assert_user_error(cli_here("runs", "--runs-dir", tmp_path, "--filter", "colour=red"), "Unknown column 'colour'")
    g = cli_here("gradcheck", recipe, "--graph", tmp_path / "graph.dot")
    assert g.returncode == 0 and "gradients agree" in g.stdout
    assert (tmp_path / "graph.dot").read_text().startswith("digraph")


def test_shapes_checks_the_conv_formula(tmp_path):
    folder = write_mnist_folder(tmp_path / "m", n_train=200, n_test=10)
    recipe = write_recipe(tmp_path / "c.toml", f'[data]\nname = "mnist_folder"\npath = "{folder}"\nsize = 32\nchannels = 3\n'
                                              '[model]\nname = "tp2_model2"\n')
    r = cli_here("shapes", recipe)
    assert r.returncode == 0, r.stderr
    assert "62,006 parameters" in r.stdout and "(32 + 2·0 − 5) / 1 + 1 = 28 ✓" in r.stdout and "✗" not in r.stdout


def test_bench_times_both_loops_on_every_device(tmp_path):
    proc = cli_here("bench", REPO / "recipes" / "moons-mlp.toml", "--steps", "20", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout.strip().splitlines()[-1])["rows"]
    assert [(r["device"], r["loop"]) for r in rows][:2] == [("cpu", "textbook"), ("cpu", "fast")]
    assert all(r["steps"] == 20 and r["seconds"] > 0 and r["samples_per_second"] > 0 for r in rows)
    assert rows[0]["speedup"] == 1.0
    # moons-mlp is a 2→16→1 MLP (one logit for two classes), batch 32: forward 2·32·(2·16 + 16·1) FLOPs,
    # as many again for the weight gradients, and 2·32·16·1 for the gradient of the hidden layer's output
    forward = 2 * 32 * (2 * 16 + 16 * 1)
    assert all(r["flops_per_step"] == 2 * forward + 2 * 32 * 16 for r in rows)
    assert all(r["tflops_per_second"] == pytest.approx(r["flops_per_step"] * 20 / r["seconds"] / 1e12) for r in rows)
    # its training split holds 800 points: an epoch is 25 batches of 32 at the measured pace
    assert all(r["epoch_seconds"] == pytest.approx(25 * r["seconds"] / 20) for r in rows)


def test_lr_find_prints_suggestions_and_writes_its_plot(tmp_path):
    recipe = write_recipe(tmp_path / "s.toml", SMALL.format(epochs=2, batch=32))
    r = cli_here("lr-find", recipe, "--steps", "60", "--plot", tmp_path / "lr.png")
    assert r.returncode == 0, r.stderr
    assert "steepest descent of the loss at lr" in r.stdout and "--set optim.lr=" in r.stdout
    assert (tmp_path / "lr.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = cli_here("lr-find", recipe, "--start", "1", "--end", "0.1")
    assert bad.returncode != 0 and "0 < start < end" in bad.stderr and "Traceback" not in bad.stderr


def test_download_errors_are_clear(tmp_path):
    assert_user_error(cli_here("download", "cifar10", "--to", tmp_path / "c", "--mirror", "http://127.0.0.1:9"),
                      "Cannot download http://127.0.0.1:9/cifar-10-python.tar.gz", "may have no network")
    assert_user_error(cli_here("download", "svhn", "--to", tmp_path / "c"), "trainlab downloads mnist, cifar10, imdb")


def test_a_run_whose_data_moved_reproduces_from_where_it_is_now(tmp_path):
    rows = ["a,b,label", *(f"{i % 7},{(i * 3) % 11},{'x' if i % 7 > 3 else 'y'}" for i in range(120))]
    (tmp_path / "data.csv").write_text("\n".join(rows) + "\n")
    assert cli_here("run", tmp_path / "data.csv", "--label", "label", "--set", "train.epochs=2", "--set",
                    "report.html=false", "--runs-dir", tmp_path / "runs", "-q").returncode == 0
    run_dir = next((tmp_path / "runs").glob("data-*"))
    (tmp_path / "data.csv").rename(tmp_path / "moved.csv")
    assert_user_error(cli_here("reproduce", run_dir, "-q"), "does not exist", "--data-path PATH")
    out = cli_here("reproduce", run_dir, "--data-path", tmp_path / "moved.csv", "-q")
    assert out.returncode == 0 and "Reproduced exactly: the same prediction for all 12 test samples" in \
        " ".join(out.stdout.split())


def test_reproduce_reruns_a_run_and_says_how_closely_it_agrees(tmp_path):
    recipe = write_recipe(tmp_path / "s.toml", SMALL.format(epochs=3, batch=64) + "[report]\nhtml = false\n")
    assert cli("run", recipe, "--runs-dir", tmp_path, "-q").returncode == 0  # in another process than the reproduction
    run_dir = next(tmp_path.glob("small-*"))
    out = cli_here("reproduce", run_dir, "-q")
    assert out.returncode == 0 and "Reproduced exactly: the same prediction for all 180 test samples; every headline " \
        "metric equal; the validation loss of all 3 epochs equal" in " ".join(out.stdout.split())
    assert json.loads((run_dir / "reproduction.json").read_text())["identical"] is True
    # another environment, played by another seed: the differences are counted, not hidden
    stored = run_dir / "recipe.toml"
    stored.write_text(stored.read_text().replace("seed = 0", "seed = 1"))
    said = " ".join(cli_here("reproduce", run_dir, "-q").stdout.split())
    r = json.loads((run_dir / "reproduction.json").read_text())
    assert not r["identical"] and r["first_differing_epoch"] == 1 and r["largest_metric_difference"] > 0
    assert "Reproduced approximately: tested on other samples than the first run" in said
    assert "validation losses differ from epoch 1" in said and "differing_predictions" not in r


def test_audit_checks_the_data_without_training_and_says_what_it_found(tmp_path):
    from sklearn.datasets import load_digits

    d = load_digits()
    order = np.random.default_rng(0).permutation(len(d.target))
    x, y = d.images[order].astype(np.float32), d.target[order]
    test = np.concatenate([x[1400:] * 1.2 + 1, x[1400:1402] * 1.2 + 1])  # another scanner, two images twice
    np.savez(tmp_path / "a.npz", x=x[:1400], y=y[:1400], x_test=test, y_test=np.r_[y[1400:], y[1400:1402]])
    proc = cli_here("audit", tmp_path / "a.npz")
    assert proc.returncode == 0, proc.stderr
    out = " ".join(proc.stdout.split())
    assert "399 test (the dataset's official test set)" in out and "2 within the test split" in out
    assert "2 test samples repeat another test sample byte for byte" in out
    assert "The test inputs (the dataset's official test set) differ from the training inputs" in out
    assert "No test image has a near-identical training image" in out and "Nothing to warn of" not in out
    assert not (tmp_path / "runs").exists() and not list(tmp_path.glob("*/run.json"))  # nothing trained

    np.savez(tmp_path / "b.npz", x=x, y=y)
    clean = " ".join(cli_here("audit", tmp_path / "b.npz").stdout.split())
    assert "Nothing to warn of" in clean and "differ" not in clean  # a random split: not checked for a shift
