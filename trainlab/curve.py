"""Would more data help? The learning curve over the training-set size: the recipe trained on growing
fractions of its training split (data.train_fraction; each smaller subset inside the larger ones),
the validation and test splits unchanged, each point an ordinary run. The page plots the test score
against the number of training samples beside the classical baselines trained on the same samples,
and the training and validation loss of the kept model (far apart: the model overfits and more data
helps; close and high: it underfits and a larger model helps). Running the same command again
continues: points whose run finished are read, an interrupted run is resumed."""
from __future__ import annotations

import logging
import math
from pathlib import Path

from .core.errors import RecipeError

log = logging.getLogger("trainlab")

FRACTIONS = (0.1, 0.25, 0.5, 1.0)


def learning_curve(recipe: str | Path, fractions=FRACTIONS, overrides: list[str] = (), *,
                   runs_dir: str | Path = "runs", equal_steps: bool = True, progress: bool = True) -> dict:
    """Train `recipe` on each fraction of its training split; returns the curve (also written as
    curve.json and curve.html in RUNS_DIR/<name>-curve/). `equal_steps`: a fraction f trains for
    train.epochs / f epochs, as many optimiser steps as the whole split (early stopping still
    watching), so a small point is not also a short training; otherwise every point has the recipe's epochs."""
    from .procedure import _resolved, _write_json, run_in

    fractions = sorted({float(f) for f in fractions})
    if not fractions or fractions[0] <= 0 or fractions[-1] > 1:
        raise RecipeError(f"Learning-curve fractions must lie in (0, 1]; received {fractions}.")
    base = _resolved(recipe, overrides)
    if base.is_rl:
        raise RecipeError("A learning curve varies the training split; a Deep Q-Learning recipe has none.")
    folder = Path(runs_dir) / f"{base.name}-curve"
    folder.mkdir(parents=True, exist_ok=True)
    points = []
    for f in fractions:
        epochs = math.ceil(base.train.epochs / f) if equal_steps else base.train.epochs
        recipe_f = _resolved(base, [f"data.train_fraction={f}", f"train.epochs={epochs}", "report.interpret=false"])
        log.info("fraction %g of the training split", f)
        points.append(_point(f, run_in(folder, recipe_f, progress)))
        curve = {"recipe": base.to_dict(), "metric": points[0]["metric"], "equal_steps": equal_steps, "points": points}
        _write_json(folder / "curve.json", curve)  # what is done survives an interruption
    from .report.curve import write_curve_report

    curve["verdict"] = verdict(curve)
    curve.update(report=str(write_curve_report(folder, curve)), folder=str(folder))
    _write_json(folder / "curve.json", curve)  # what `trainlab show FOLDER` prints
    return curve


def _point(fraction: float, r) -> dict:
    from .report import headline_keys, lower_is_better

    m = r.metrics
    key = next(k for k in headline_keys(m) if k in m["test"])
    rep = m.get("repeats") or {}
    best = next(h for h in m["history"] if h["epoch"] == m["fit"]["best_epoch"]) if m["fit"]["best_epoch"] else m["history"][-1]
    point = {"fraction": fraction, "train_samples": m["data"]["sizes"]["train"], "run": r.path.name, "metric": key,
             "higher_is_better": not lower_is_better(key, m), "value": m["test"][key],
             "std": rep["test"][key]["std"] if key in rep.get("test", {}) else None,
             "mean": rep["test"][key]["mean"] if key in rep.get("test", {}) else m["test"][key],
             "interval": (m["test"].get("bootstrap") or {}).get(key),
             "train_loss": best.get("train_loss"), "val_loss": best.get("val_loss"),
             "best_epoch": m["fit"]["best_epoch"], "epochs_run": m["fit"]["epochs_run"], "steps": m["fit"]["steps"],
             "train_seconds": m["fit"]["train_seconds"], "baselines": {}}
    for name, b in ((m.get("baselines") or {}).get("models") or {}).items():
        if key in b:
            point["baselines"][name] = rep["baselines"][name][key]["mean"] if name in rep.get("baselines", {}) else b[key]
    if m.get("baselines", {}) and m["baselines"].get("note"):
        point["baseline_note"] = m["baselines"]["note"]
    return point


def verdict(curve: dict) -> list[str]:
    """What the curve says, in sentences: the gain of the last doubling of the data against the
    test score's own uncertainty, and from which size on the network beats every baseline."""
    from .report import fmt

    pts = curve["points"]
    key, out = curve["metric"], []
    if len(pts) < 2:
        return ["One point only: give several fractions to see a curve."]
    a, b = pts[-2], pts[-1]
    sign = 1 if b["higher_is_better"] else -1
    gain = sign * (b["mean"] - a["mean"]) / math.log2(b["train_samples"] / a["train_samples"])
    if b["std"] is not None:
        noise, what = b["std"], "the standard deviation over the repeats"
    elif b["interval"]:
        noise, what = (b["interval"][1] - b["interval"][0]) / 2, "half the test set's 95% bootstrap interval"
    else:
        noise, what = None, ""
    text = (f"From {a['train_samples']:,} to {b['train_samples']:,} training samples, {key} went from "
            f"{fmt(a['mean'])} to {fmt(b['mean'])}: {'+' if gain >= 0 else '−'}{fmt(abs(gain))} per doubling of the data "
            f"({'better' if gain > 0 else 'worse' if gain < 0 else 'unchanged'})")
    if noise:
        text += (f", {'more' if gain > noise else 'less'} than {what} ({fmt(noise)}): "
                 + ("the curve is still rising, and more data of this kind would likely help." if gain > noise else
                    "the curve has flattened within what this test set can tell; more data of this kind would "
                    "likely help little."))
    else:
        text += "."
    out.append(text)
    if pts[0]["baselines"]:
        ahead = [sign * p["mean"] > max(sign * v for v in p["baselines"].values()) for p in pts]
        if all(ahead):
            out.append(f"The network beats every baseline at every size, from {pts[0]['train_samples']:,} samples.")
        elif not ahead[-1]:
            out.append("At the largest size a classical baseline does as well as the network: with this much data, "
                       "deep learning has not earned its place yet.")
        else:
            first = max(i for i, ok in enumerate(ahead) if not ok) + 1
            out.append(f"The network beats every baseline from {pts[first]['train_samples']:,} training samples on; "
                       "below that a classical model does as well.")
    return out

