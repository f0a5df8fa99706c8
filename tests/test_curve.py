"""trainlab learning-curve: growing parts of the training split, the same validation and test, and
a command that continues where it stopped."""
import json
import math

from tests.cli.test_cli import SMALL, assert_user_error, cli_here, write_recipe
from trainlab.curve import verdict


def test_learning_curve_trains_growing_parts_and_continues(tmp_path):
    recipe = write_recipe(tmp_path / "r.toml", SMALL.format(epochs=4, batch=32).replace("baselines = false",
                                                                                      "baselines = true"))
    args = ["learning-curve", recipe, "--fractions", "0.2,0.5,1", "--runs-dir", tmp_path / "runs", "-q"]
    out = cli_here(*args)
    assert out.returncode == 0, out.stderr
    folder = tmp_path / "runs" / "small-curve"
    curve = json.loads((folder / "curve.json").read_text())
    pts = curve["points"]
    assert [p["fraction"] for p in pts] == [0.2, 0.5, 1.0]
    full = pts[-1]["train_samples"]
    assert abs(pts[0]["train_samples"] - 0.2 * full) <= 10 and abs(pts[1]["train_samples"] - 0.5 * full) <= 10
    sizes = [json.loads((folder / p["run"] / "metrics.json").read_text())["data"]["sizes"] for p in pts]
    assert len({(s["val"], s["test"]) for s in sizes}) == 1  # the same validation and test at every size
    for p in pts:  # as many optimiser steps as the whole split: epochs ÷ fraction
        text = (folder / p["run"] / "recipe.toml").read_text()
        assert f"epochs = {math.ceil(4 / p['fraction'])}" in text and f"train_fraction = {p['fraction']}" in text
        assert abs(p["steps"] - pts[-1]["steps"]) <= 10  # (each epoch's last batch is partial)
        assert "logistic regression" in p["baselines"] and 0.5 < p["value"] <= 1
    assert curve["verdict"][0].startswith(f"From {pts[1]['train_samples']:,} to {full:,} training samples, accuracy")
    assert curve["verdict"][0][:40] in out.stdout.replace("\n", " ")
    html = (folder / "curve.html").read_text()
    assert html.count("data:image/png;base64,") == 1 and all(p["run"] in html for p in pts)

    # a point left unfinished is resumed, finished ones are read: no new run directory
    runs = sorted(d.name for d in folder.iterdir() if d.is_dir())
    state = folder / pts[1]["run"] / "run.json"
    state.write_text(json.dumps({**json.loads(state.read_text()), "status": "interrupted"}))
    again = cli_here(*args)
    assert again.returncode == 0, again.stderr
    assert sorted(d.name for d in folder.iterdir() if d.is_dir()) == runs
    assert json.loads(state.read_text())["status"] == "finished"
    assert json.loads((folder / "curve.json").read_text())["points"] == pts
    curve = json.loads((folder / "curve.json").read_text())

    shown = cli_here("show", folder)  # the curve again, from its folder
    assert shown.returncode == 0 and curve["verdict"][0][:40] in shown.stdout.replace("\n", " ")

    assert_user_error(cli_here("learning-curve", recipe, "--fractions", "0,1"), "must lie in (0, 1]")
    assert_user_error(cli_here("learning-curve", recipe, "--fractions", "half"), "--fractions takes numbers")


def _pt(n, mean, base, interval=None, std=None):
    return {"train_samples": n, "mean": mean, "higher_is_better": True, "std": std, "interval": interval,
            "baselines": {"majority class": 0.1, "logistic regression": base}}


def test_the_verdict_weighs_the_last_doubling_against_the_noise_and_finds_where_the_network_wins():
    rising = {"metric": "accuracy", "points": [_pt(100, 0.70, 0.75), _pt(200, 0.80, 0.78), _pt(400, 0.86, 0.79, [0.84, 0.88])]}
    first, second = verdict(rising)
    assert "+0.0600 per doubling" in first and "more than half the test set's 95% bootstrap interval (0.0200)" in first
    assert "still rising" in first and "from 200 training samples on" in second
    flat = {"metric": "accuracy", "points": [_pt(1000, 0.80, 0.81), _pt(4000, 0.81, 0.83, std=0.02)]}
    first, second = verdict(flat)
    assert "+0.0050 per doubling" in first and "less than the standard deviation over the repeats" in first
    assert "has flattened" in first and "a classical baseline does as well" in second
