"""The command line: parses arguments and calls the library. Heavy imports happen inside the
commands, so `trainlab --help` answers at once."""
from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import List, Optional

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="trainlab: the deep-learning procedure as one command (data → split → train → test → report).")
recipe_app = typer.Typer(no_args_is_help=True, help="Recipe utilities.")
app.add_typer(recipe_app, name="recipe")

SET_HELP = "Override a recipe value, e.g. --set optim.lr=0.1 --set model.hidden=[128,64]. Repeatable."


def _setup_logging(quiet: bool) -> None:
    logging.basicConfig(format="%(message)s", level=logging.WARNING if quiet else logging.INFO, stream=sys.stderr)


def _console():
    from rich.console import Console

    # a pipe or a file gets wide lines rather than truncated table cells
    return Console() if sys.stdout.isatty() else Console(width=160)


def _print_summary(run) -> None:
    from rich.table import Table

    m, console = run.metrics, _console()
    if m.get("kind") == "rl":
        return _print_rl_summary(run)
    fit = m["fit"]
    from ..evaluate.baselines import LEAK_SCORE
    from ..report import results_table
    from ..report.methods import baseline_verdict, group_sentence, learned_nothing, small_test

    tta = ", each averaged with its mirror" if run.recipe.eval.tta == "flip" else ""
    table = Table(title=f"{run.recipe.name}: test metrics ({m['data']['sizes']['test']} samples{tta}, best epoch "
                        f"{fit['best_epoch']} of {fit['epochs_run']})")
    columns, rows = results_table(m)
    for i, c in enumerate(columns):
        table.add_column(c, justify="right" if i else "left")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    grouped = group_sentence(m, run.recipe.data.params)
    if grouped:
        console.print(grouped, highlight=False)
    few = small_test(m, run.recipe.data.params)
    if few:
        console.print(f"[yellow]{few}", highlight=False)
    verdict = baseline_verdict(m)
    if verdict:
        console.print(("[green]" if verdict[1] else "[yellow]") + verdict[0], highlight=False)
        hint = learned_nothing(m)
        if hint:
            console.print(f"[bold yellow]{hint}", highlight=False)
    single = (m.get("baselines") or {}).get("single_feature")
    if single and single["validation_score"] >= LEAK_SCORE:
        console.print(f"[yellow]{single['feature']} alone predicts the target almost perfectly (validation "
                      f"{single['metric'].replace('_', ' ')} {single['validation_score']:.4f}): the answer, or a leak? "
                      "Check that it is known before the outcome.", highlight=False)
    for said, warns in _data_checks(m["data"]):
        if warns:
            console.print(f"[yellow]{said}", highlight=False)
    if m["test"].get("conformal"):
        from ..evaluate import conformal

        console.print(conformal.sentence(m["test"]["conformal"], m["spec"].get("class_names") or ()), highlight=False)
    if m.get("subgroups"):
        from ..evaluate.subgroups import decisive_p, sentence

        for name, by in m["subgroups"]["by"].items():
            console.print(("[yellow]" if decisive_p(by) < 0.05 else "") + sentence(name, by, m["subgroups"]["folds"]),
                          highlight=False)
    doubted = (m.get("out_of_fold") or {}).get("doubtful_labels", [])[:3]
    if doubted:
        console.print("Labels doubted most by the network trained without them (out of fold): "
                      + ", ".join(f"sample {r['sample']} ({r['true']!r}, p {r['p_label']:.2g})" for r in doubted)
                      + "; the report lists more.", highlight=False)
    how = " (CUDA graph)" if fit.get("cuda_graph") == "captured" else ""
    if fit.get("strategy") in ("ddp", "fsdp"):
        how += f" × {fit['processes']} process{'es' if fit['processes'] > 1 else ''} ({fit['strategy'].upper()})"
    steps = f"{fit['steps']} step{'s' * (fit['steps'] != 1)}"
    console.print(f"trained {steps} in {fit['train_seconds']:.1f} s on {fit['device']}{how} · run: {run.path}"
                  + (f" · report: {run.path / 'report.html'}" if (run.path / "report.html").is_file() else ""))


def _data_checks(data: dict) -> list[tuple[str, bool]]:
    """What the data's checks found (a prepared split's summary), each sentence with whether it warns:
    near-identical test samples, repeated or conflicting samples, a test set that differs."""
    from ..report.methods import duplicates_sentence, near_sentence, shared_groups_sentence, shift_sentence, shift_warns

    near = data.get("near_duplicates")
    out = [(near_sentence(near), bool(near["test_in_train"]))] if near else []
    for said in (duplicates_sentence(data.get("duplicates") or {}), shared_groups_sentence(data.get("groups"))):
        if said:
            out.append((said, True))
    shift = data.get("shift") or {}
    said = shift_sentence(shift)
    if said:
        out.append((said, shift_warns(shift)))
    return out


def _print_rl_summary(run) -> None:
    from rich.table import Table

    m, console = run.metrics, _console()
    ev = m["eval"]
    table = Table(title=f"{run.recipe.name}: returns over {ev['games']} seeded evaluation games")
    for col in ("policy", "mean", "std", "min", "max"):
        table.add_column(col, justify="left" if col == "policy" else "right")
    for name, key in ((f"trained: {ev['policy']}", "greedy"), ("trained: purely greedy", "pure_greedy"),
                      ("scripted heuristic", "heuristic"), ("random", "random")):
        s = ev[key]
        table.add_row(name, *(f"{s[k]:.3f}" for k in ("mean", "std", "min", "max")))
    console.print(table)
    console.print(f"trained {m['fit']['env_steps']:,} environment steps in {m['fit']['train_seconds']:.0f} s on "
                  f"{m['fit']['device']} · run: {run.path} · report: {run.path / 'report.html'}")


@app.command()
def run(recipe: Path = typer.Argument(..., help="Recipe TOML file (recipes/tp1-mlp.toml), or your data without a "
                                     "recipe: a table (.csv, .tsv, .parquet), arrays (.npz), a folder of images."),
        label: Optional[str] = typer.Option(None, help="Data without a recipe: the table's label column."),
        set_: Optional[List[str]] = typer.Option(None, "--set", help=SET_HELP),
        repeats: Optional[int] = typer.Option(None, help="Repeat over N split seeds; report mean ± std and a 95% interval."),
        folds: Optional[int] = typer.Option(None, help="K-fold cross-validation: K runs, each tested on another fold "
                                            "(every sample tested once); mean ± std over the folds. With data.time, "
                                            "rolling origin: K later periods, each tested on what came before."),
        runs_dir: Path = typer.Option(Path("runs"), help="Where run directories are created."),
        devices: Optional[int] = typer.Option(None, help="Data-parallel processes on this machine (GPUs, or CPU processes)."),
        num_nodes: Optional[int] = typer.Option(None, help="Machines, each started with the same command (torchrun, SLURM)."),
        strategy: Optional[str] = typer.Option(None, help="auto | ddp | fsdp (shard parameters, gradients and optimiser state)."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output.")):
    """Train, test once and report a recipe."""
    _setup_logging(quiet)
    from ..procedure import run as run_recipe

    if repeats is not None and repeats < 1:
        from ..core.errors import RecipeError

        raise RecipeError(f"--repeats must be at least 1; received {repeats}.")
    scale = [f"{k}={v}" for k, v in (("train.devices", devices), ("train.num_nodes", num_nodes),
                                      ("train.strategy", strategy), ("eval.folds", folds)) if v is not None]
    result = run_recipe(recipe, [*(set_ or []), *scale], repeats=repeats, runs_dir=runs_dir, progress=not quiet,
                        label=label)
    if result.main:  # one process of a data-parallel run prints the summary
        _print_summary(result)
        if recipe.suffix.lower() != ".toml":
            _console().print(f"the recipe this run used: {result.path / 'recipe.toml'} (trainlab recipe new {recipe}"
                             f"{f' --label {label}' if label else ''} writes a short one to edit)", highlight=False)


@app.command()
def audit(recipe: Path = typer.Argument(..., help="A recipe, or your data without one, as trainlab run takes them."),
          label: Optional[str] = typer.Option(None, help="Data without a recipe: the table's label column."),
          set_: Optional[List[str]] = typer.Option(None, "--set", help=SET_HELP)):
    """Check the data before training anything: the split's sizes and classes, duplicates between and
    within the splits, test images or texts near-identical to training ones, and whether a test set not
    drawn at random differs from the training set (what the report of a run says)."""
    _setup_logging(False)
    from rich.table import Table

    from ..procedure import audit as audit_data

    data = audit_data(recipe, set_ or [], label)
    console = _console()
    sizes = data["sizes"]
    console.print(f"{data['source']}: " + ", ".join(f"{n:,} {part}" for part, n in sizes.items())
                  + (" (the dataset's official test set)" if data.get("official_test") else ""), highlight=False)
    counts = data.get("class_counts")
    if counts:
        table = Table(title="samples of each class")
        table.add_column("class")
        for part in counts:
            table.add_column(part, justify="right")
        for c, name in enumerate(data["class_names"]):
            table.add_row(str(name), *(f"{counts[part][c]:,}" for part in counts))
        console.print(table)
    d = data["duplicates"]
    console.print(f"exact duplicates: {d['val_in_train']} validation and {d['test_in_train']} test samples in the "
                  f"training split, {d['test_in_val']} test samples in the validation split, {d['within_train']} "
                  f"within the training split, {d.get('within_test', 0)} within the test split", highlight=False)
    checks = _data_checks(data)
    for said, warns in checks:
        console.print(("[yellow]" if warns else "") + said, highlight=False)
    if not any(warns for _, warns in checks) and not (d["test_in_train"] or d["test_in_val"]):
        console.print("[green]Nothing to warn of.", highlight=False)


@app.command()
def resume(run_dir: Path = typer.Argument(..., help="A run directory, e.g. runs/tp1-mlp-20260101-120000."),
           devices: Optional[int] = typer.Option(None, help="Continue on this many processes (default: as recorded)."),
           num_nodes: Optional[int] = typer.Option(None, help="Continue on this many machines."),
           strategy: Optional[str] = typer.Option(None, help="Continue with another strategy: auto | ddp | fsdp."),
           quiet: bool = typer.Option(False, "--quiet", "-q")):
    """Continue an interrupted run from its last checkpoint, on the same number of devices or another."""
    _setup_logging(quiet)
    from ..procedure import resume as resume_run

    result = resume_run(run_dir, progress=not quiet, devices=devices, num_nodes=num_nodes, strategy=strategy)
    if result.main:
        _print_summary(result)


@app.command()
def show(run_dir: Path = typer.Argument(..., help="A run directory (or a learning curve's or an ablation's folder)."),
         methods: bool = typer.Option(False, "--methods", help="Print the run as methods and results paragraphs "
                                                               "for a paper (as in the report) instead.")):
    """Print a finished run's summary."""
    from ..core.errors import CheckpointError
    from ..procedure import load_run

    for name, printer in (("curve.json", _print_curve), ("ablation.json", _print_ablation)):
        if (run_dir / name).is_file():
            return printer(json.loads((run_dir / name).read_text()))
    r = load_run(run_dir)
    if not r.metrics:
        raise CheckpointError(f"Run {str(run_dir)!r} has no results yet (status: {r.status}). "
                              f"If it was interrupted, continue it with: trainlab resume {run_dir}")
    if methods:
        from ..report.methods import external_results, methods_text

        text = methods_text(r.recipe, r.metrics, json.loads((Path(run_dir) / "run.json").read_text()).get("env", {}),
                            external_results(run_dir))
        if text:
            print("\n\n".join(text))
            return
        _console().print("This run has no methods text (a GAN or a reinforcement-learning run); its summary:")
    _print_summary(r)


@app.command()
def paper(run_dir: Path = typer.Argument(..., help="A finished run directory."),
          format: str = typer.Option("pdf", "--format", "-f", help="Figures as pdf, svg (vector) or png (300 dpi).")):
    """Write the run's figures (each of its report's), its results table (CSV, LaTeX) and its methods and
    results paragraphs as files to put in a paper, in RUN/paper/."""
    from ..core.errors import CheckpointError, TrainlabError
    from ..procedure import load_run
    from ..report.paper import FORMATS, write_paper

    if format not in FORMATS:
        raise TrainlabError(f"--format {format!r}: figures are written as {', '.join(FORMATS)}.")
    r = load_run(run_dir)
    if not r.metrics:
        raise CheckpointError(f"Run {str(run_dir)!r} has no results yet (status: {r.status}).")
    files = write_paper(r.path, r.recipe, r.metrics, json.loads((r.path / "run.json").read_text()).get("env", {}), format)
    figures = [f for f in files if f.parent.name == "figures"]
    _console().print(f"{len(figures)} figure{'s' * (len(figures) != 1)} ({', '.join(f.stem for f in figures)}) and "
                     f"{', '.join(f.name for f in files if f.parent.name != 'figures') or 'no table'} in "
                     f"{r.path / 'paper'}", highlight=False)


@app.command("list")
def list_(kind: str = typer.Argument(..., help="models | datasets | tasks | losses | metrics | optimizers | schedules "
                                                 "| environments | agents"),
          plugin: Optional[List[str]] = typer.Option(None, "--plugin", help="Also your own entries: a plugin file "
                                                     "(my_models.py) or module, as a recipe's plugins names it. Repeatable.")):
    """List what a registry holds, with each entry's recipe keys."""
    from rich.markup import escape
    from rich.table import Table

    from ..core.config import plugin_paths
    from ..plugins import load
    from ..registries import list_registry

    load(plugin_paths(plugin or [], Path.cwd()))

    entries = list_registry(kind)
    if not entries:
        _console().print(f"No {kind} registered yet: yours come from a plugin file (trainlab.register_"
                         f"{kind.removesuffix('s')} in my_{kind}.py), listed with --plugin my_{kind}.py.")
        return
    table = Table(title=kind)
    table.add_column("name")
    table.add_column("what it is")
    table.add_column("recipe keys (defaults)")
    for e in entries:
        keys = ", ".join(f"{n}={'required' if f.is_required() else json.dumps(f.default)}"
                         for n, f in e.params.model_fields.items())
        mine = "" if e.builtin else f" (yours: {Path(e.where).name})"
        table.add_row(e.name, escape((e.summary + mine).strip()), escape(keys))  # summaries hold brackets: E[log p(x|z)]
    _console().print(table)


@app.command()
def predict(run_dir: Path = typer.Argument(..., help="A run directory."),
            inputs: List[str] = typer.Argument(..., help="Image files or folders (PNG/JPEG/TIFF/NPY), CSV files of table rows, or texts."),
            out: Optional[Path] = typer.Option(None, "--out", help="Write all predictions to a .csv or .json file "
                                               "(segmentation: a folder for the TIFFs, default RUN/predictions; an "
                                               "image autoencoder: a folder for the reconstructions)."),
            batch_size: int = typer.Option(256, help="Inputs per forward pass.")):
    """Predict new inputs with a run's best model and its training preprocessing; a run on windows of
    recordings also predicts each recording, by its windows' mean (with --out, in OUT-per-recording.csv)."""
    from ..core.errors import TrainlabError
    from ..serve.predictor import Predictor, per_recording

    p = Predictor(run_dir, device="cuda" if _cuda() else "cpu")
    result = {}
    if p.task.name == "segmentation":  # images in, probability maps and instance labels out
        rows = p.segment_files(inputs, out or run_dir / "predictions")
        out = None
    else:
        x, names = p.read_files(inputs)
        for f, columns in p.ignored_columns.items():
            _console().print(f"{f}: column{'s' * (len(columns) > 1)} {', '.join(map(repr, columns))} "
                             f"{'are' if len(columns) > 1 else 'is'} not among the model's inputs: left out",
                             highlight=False)
        images = out is not None and not out.suffix and hasattr(p.task, "reconstructed") and p.spec.kind == "image"
        result = p.predict(x, batch_size, reconstructions=images)
        rows = _prediction_rows(names, result)
        if images:  # an image autoencoder's reconstructions, to a folder
            _write_reconstructions(out, names, x, result.pop("reconstructions"), rows)
            out = out / "predictions.csv"
        for f in p.labelled:
            _console().print(f"{f} holds the label column {p.recipe['data']['label']!r}: trainlab evaluate {run_dir} "
                             f"{f} scores the model on it, beside its test score", highlight=False)
    if out is not None:
        if out.suffix.lower() not in (".csv", ".json"):
            raise TrainlabError(f"--out must end in .csv or .json; received {str(out)!r}.")
        _write_rows(out, rows)
    _rows_table(rows, f"{len(rows)} predictions by {run_dir}", out)
    recordings = per_recording([r["input"] for r in rows], result) if result else None
    if recordings:  # a windowed run: each recording as the report scores one, by its windows' mean
        kept = out and out.with_name(f"{out.stem}-per-recording{out.suffix}")
        if kept:
            _write_rows(kept, recordings)
        _rows_table(recordings, f"{len(recordings)} recordings, each by its windows' mean "
                                f"{'probabilities' if 'predicted' in recordings[0] else 'prediction'}", kept)
    off = sum(1 for r in rows if r.get("outside training range"))
    if off:
        _console().print(f"[yellow]{off} of {len(rows)} inputs have features outside the range seen in training: "
                         "their predictions extrapolate, trust them less.", highlight=False)
    if "unusual" in result:
        from ..report import pvalue
        from ..serve.predictor import UNUSUAL

        odd, p_odd = sum(result["unusual"]), result["unusual_p_value"]
        _console().print(f"{'[yellow]' if p_odd < 0.05 else ''}{odd} of {len(rows)} inputs {'is' if odd == 1 else 'are'} "
                         f"more unusual for the model than {UNUSUAL}% of the run's test samples ({result['score']} above "
                         f"{result['unusual_above']:.4g}); of inputs like those, {100 - UNUSUAL}% would be (binomial test, "
                         f"{pvalue(p_odd)}" + ("): as a set, they are more unusual than the run's test samples."
                                               if p_odd < 0.05 else ")."), highlight=False)


def _write_reconstructions(folder: Path, names: list[str], x, images, rows: list[dict]) -> None:
    """An image autoencoder's reconstructions (a denoising one's: the inputs cleaned), one file per input in
    `folder`: a PNG for inputs of 8-bit pixels, else the array as .npy; each row names its file."""
    import re

    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    eight_bit = bool(np.all((x >= 0) & (x <= 255) & (x == np.round(x))))
    for i, (name, image, row) in enumerate(zip(names, images, rows)):
        stem = f"{i:04d}_" + re.sub(r"[^\w.-]+", "_", Path(name).stem) + "_reconstructed"
        if eight_bit:
            pixels = np.clip(np.round(image), 0, 255).astype(np.uint8)
            f = folder / f"{stem}.png"
            Image.fromarray(pixels[0] if len(pixels) == 1 else pixels.transpose(1, 2, 0)).save(f)
        else:
            f = folder / f"{stem}.npy"
            np.save(f, image.astype(np.float32))
        row["reconstruction"] = str(f)


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _prediction_rows(names: list[str], result: dict) -> list[dict]:
    if "scores" in result:  # a density's or an autoencoder's: how unusual each input is
        rows = [{"input": n, result["score"]: float(v)} for n, v in zip(names, result["scores"])]
        for row, rank, odd in zip(rows, result.get("percentiles", []), result.get("unusual", [])):
            row.update({"test samples more typical (%)": float(rank), "unusual": "yes" if odd else ""})
    elif "values" in result:
        rows = [{"input": n, "value": float(v)} for n, v in zip(names, result["values"])]
    else:
        rows = [{"input": n, "predicted": c, **{f"p({k})": round(float(pk), 6) for k, pk in zip(result["classes"], probs)}}
                for n, c, probs in zip(names, result["predicted"], result["probabilities"])]
    for row, off in zip(rows, result.get("outside_training_range", [])):
        row["outside training range"] = ", ".join(off)
    return rows


def _rows_table(rows: list[dict], title: str, out: Path | None) -> None:
    """Predictions as a terminal table, its first 50 rows (the rest in `out`, when written)."""
    from rich.table import Table

    table = Table(title=title)
    shown = _terminal_rows(rows)
    left = ("input", "predicted", "runner-up", "probability", "labels", "outside training range")
    for col in shown[0]:
        table.add_column(col, justify="left" if col in left else "right")
    for r in shown[:50]:
        table.add_row(*[f"{v:.4f}" if isinstance(v, float) else str(v) for v in r.values()])
    _console().print(table)
    if len(rows) > 50:
        _console().print(f"... {len(rows) - 50} more" + (f" in {out}" if out else "; use --out to keep them all"))


def _terminal_rows(rows: list[dict]) -> list[dict]:
    """The predicted class, its probability and the runner-up (the likeliest other class; a binary
    run's threshold may predict the less probable one): what fits a terminal."""
    if "predicted" not in rows[0]:  # values (regression) or files written (segmentation)
        return rows
    out = []
    for r in rows:
        probs = {k[2:-1]: v for k, v in r.items() if k.startswith("p(")}
        others = sorted(((v, k) for k, v in probs.items() if k != r["predicted"]), reverse=True) or [(0.0, "")]
        out.append({"input": r["input"], **({"windows": r["windows"]} if "windows" in r else {}),
                    "predicted": r["predicted"], "probability": probs[r["predicted"]],
                    "runner-up": f"{others[0][1]} ({others[0][0]:.3f})",
                    **({"outside training range": r["outside training range"]} if "outside training range" in r else {})})
    return out


def _write_rows(out: Path, rows: list[dict]) -> None:
    import csv

    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".json":
        out.write_text(json.dumps(rows, indent=1))
        return
    with open(out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


@app.command()
def evaluate(run_dir: Path = typer.Argument(..., help="A finished classification, regression, segmentation, "
                                                     "autoencoder, VAE or flow run."),
             data: Path = typer.Argument(..., help="Labelled data from elsewhere, in the layout the run read (a table, "
                                                   "a folder of class sub-folders, an IDX or CIFAR folder, ...); for an "
                                                   "autoencoder or a flow, labels are optional."),
             label: Optional[str] = typer.Option(None, help="A table's label column, when it is not the run's."),
             name: Optional[str] = typer.Option(None, help="What to call this set in RUN/external/ and the report "
                                                           "(default: the file or folder name)."),
             set_: Optional[List[str]] = typer.Option(None, "--set", help="Override how the data is read, e.g. "
                                                      "--set data.features=[\"age\",\"bmi\"]. Repeatable.")):
    """Test a run's best model on an external test set (another site, a later year): its metrics with their
    bootstrap intervals beside the run's own test score, whether the two differ beyond chance, and
    whether the external data differ from the run's. An autoencoder, VAE or flow: where the inputs' scores
    fall among the run's test samples', and how well held-out classes are found. Kept in RUN/external/
    and shown in the report."""
    from rich.table import Table

    from ..evaluate.external import evaluate_external
    from ..report.methods import external_sentences, external_size

    r = evaluate_external(run_dir, data, label, set_ or [], name)
    table = Table(title=f"{r['name']}: {external_size(r, 'external ')}, the run's test set "
                        f"{r['run_test_samples'] or '?'}")
    for col in ("metric", "run's test", "95% interval", "external", "95% interval ", "difference", "p"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    span = lambda ci: f"[{ci[0]:.4f}, {ci[1]:.4f}]" if ci else ""  # noqa: E731
    for row in r["rows"]:
        t = row["test"] or {}
        table.add_row(row["metric"], f"{row['run']:.4f}", span(row["run_interval"]), f"{row['external']:.4f}",
                      span(row["external_interval"]), f"{t['difference']:+.4f}" if t else "",
                      f"{t['p_value']:.3g}" if t else "")
    if r["rows"]:
        _console().print(table)
    if r.get("by_class"):
        odd = set((r.get("anomalous") or {}).get("classes") or [])
        table = Table(title=f"{r['name']}: where each class's {r['score'].replace('_', ' ')}s fall among the run's "
                            "test samples'")
        for col in ("class", "samples", "mean percentile", "median percentile", f"above the {r['surprise']['unusual_at']}th"):
            table.add_column(col, justify="left" if col == "class" else "right")
        for c, s in r["by_class"].items():
            table.add_row(c + (" (anomalous)" if c in odd else ""), f"{s['samples']:,}", f"{s['mean_percentile']:.1f}",
                          f"{s['median_percentile']:.1f}", f"{s['unusual_share']:.1%}")
        _console().print(table)
    for sentence, warn in external_sentences(r):
        _console().print(f"[yellow]{sentence}" if warn else sentence, highlight=False)
    report = run_dir / "report.html"
    if report.is_file():  # written again, with its section on the external sets
        from ..procedure import load_run
        from ..report.html import write_report

        run = load_run(run_dir)
        write_report(run.path, run.recipe, run.metrics, json.loads((run.path / "run.json").read_text()).get("env", {}))
    _console().print(f"kept in {run_dir / 'external' / (r['name'] + '.json')}" +
                     (f" · report: {report}" if report.is_file() else ""), highlight=False)


@app.command()
def export(run_dir: Path = typer.Argument(..., help="A run directory."),
           format: str = typer.Option("onnx", "--format", "-f", help="onnx | torchscript | safetensors"),
           out_dir: Optional[Path] = typer.Option(None, help="Where to write (default: RUN/export)."),
           quiet: bool = typer.Option(False, "--quiet", "-q")):
    """Export the best model with a JSON model card; checks parity with PyTorch on the test inputs."""
    _setup_logging(quiet)
    from ..core.errors import TrainlabError
    from ..export.exporter import export as export_run

    card = export_run(run_dir, format, out_dir)
    par = card["parity"]
    folder = out_dir or run_dir / "export"
    _console().print(f"wrote {folder / card['file']} and {card['file']}.card.json · parity on {par['samples']} test "
                     f"inputs: max |difference| {par['max_abs_diff']:.2e} (tolerance {par['tolerance']:.0e}) → "
                     + ("[green]passed[/]" if par["passed"] else "[red]FAILED[/]"))
    if not par["passed"]:
        raise TrainlabError(f"The exported {format} model differs from PyTorch by {par['max_abs_diff']:.3g}; "
                            "the artifact was kept for inspection but should not be used.")


@app.command()
def serve(run_dir: Path = typer.Argument(..., help="A run directory."),
          host: str = typer.Option("127.0.0.1", help="Address to bind; loopback unless you mean otherwise."),
          port: int = typer.Option(8000, min=1, max=65535, help="TCP port."),
          max_body_mb: float = typer.Option(8.0, help="Largest request body accepted, in MiB.")):
    """Serve the best model over HTTP: POST /predict, GET /health, GET /metadata, docs at /docs."""
    _setup_logging(False)
    from ..serve.app import serve as serve_run

    serve_run(run_dir, host=host, port=port, max_body_bytes=int(max_body_mb * 1024 * 1024))


@app.command()
def explain(run_dir: Path = typer.Argument(..., help="A finished classification run."),
            samples: int = typer.Option(8, help="Test samples to explain (one per class in turn).")):
    """Attributions, learned features and a feature projection, added to the run's report."""
    _setup_logging(False)
    from ..procedure import explain as explain_run

    r = explain_run(run_dir, samples)
    _console().print(f"interpretation written to {r.path / 'interpret.json'} · report: {r.path / 'report.html'}")


@app.command()
def shapes(recipe: Path = typer.Argument(..., help="A recipe."),
           set_: Optional[List[str]] = typer.Option(None, "--set", help=SET_HELP)):
    """Each layer's output shape and parameters, with the conv formula d_out = (d_in + 2p − k)/s + 1 checked."""
    _setup_logging(True)
    from rich.table import Table

    from ..procedure import model_shapes

    rows, total = model_shapes(recipe, set_ or [])
    table = Table(title=f"{recipe.name}: {total:,} parameters")
    for col in ("layer", "type", "output shape", "parameters", "d_out = (d_in + 2p − k)/s + 1"):
        table.add_column(col, justify="right" if col == "parameters" else "left")
    for r in rows:
        check = (r["formula"] + (" ✓" if r["formula_ok"] else " ✗")) if "formula" in r else ""
        table.add_row(r["layer"], r["type"], "×".join(map(str, r["output"])), f"{r['parameters']:,}", check)
    _console().print(table)


@app.command()
def bench(recipe: Path = typer.Argument(..., help="A recipe; its model and data are timed."),
          steps: int = typer.Option(50, help="Training steps measured per device and loop (after as many of warm-up)."),
          set_: Optional[List[str]] = typer.Option(None, "--set", help=SET_HELP),
          json_out: bool = typer.Option(False, "--json", help="Print one JSON line instead of a table.")):
    """Time the recipe on every device available (CPU, CUDA), with the textbook loop and trainlab's."""
    import json

    from rich.table import Table

    from ..procedure import bench as bench_recipe

    rows = bench_recipe(recipe, set_ or [], steps)
    if json_out:
        print(json.dumps({"recipe": str(recipe), "rows": rows}))
        return
    table = Table(title=f"{recipe.name}: {steps} training steps, batch {rows[0]['batch_size']}")
    for col in ("device", "loop", "precision", "s / step", "s / epoch", "samples / s", "TFLOP/s", "vs textbook on CPU"):
        table.add_column(col, justify="left" if col in ("device", "loop", "precision") else "right")
    for r in rows:
        table.add_row(r["device"], r["loop"], r["precision"], f"{1000 * r['seconds'] / r['steps']:.2f} ms",
                      f"{r['epoch_seconds']:.3g} s", f"{r['samples_per_second']:,.0f}", f"{r['tflops_per_second']:.3g}",
                      f"{r['speedup']:.2f}×")
    _console().print(table)
    print(f"one step: {rows[0]['flops_per_step'] / 1e9:.3g} GFLOP (forward and backward matrix products and convolutions); "
          "s / epoch: the whole training set at the measured pace")


@app.command()
def download(name: str = typer.Argument(..., help="mnist | cifar10 | imdb"),
             to: Path = typer.Option(..., "--to", help="The folder to fill (a recipe's data.path then reads it)."),
             mirror: Optional[str] = typer.Option(None, help="A mirror's URL holding the same file names.")):
    """Download a dataset's published files (MD5-checked) into a folder; the only command that uses the network."""
    from ..data.download import download as fetch

    shown = set()

    def progress(file: str, done: int, total: int) -> None:
        step = done * 10 // total if total else 0
        if (file, step) not in shown:
            shown.add((file, step))
            print(f"{file}: {done / 1e6:.1f} of {total / 1e6:.1f} MB" if total else f"{file}: {done / 1e6:.1f} MB",
                  file=sys.stderr)

    out = fetch(name, to, mirror, progress)
    _console().print(f"{name} is in {out['path']} (MD5 checked). Use it with: trainlab run RECIPE {out['recipe']}")


@app.command("lr-find")
def lr_find(recipe: Path = typer.Argument(..., help="A recipe: its model, optimiser, loss and training split."),
            set_: Optional[List[str]] = typer.Option(None, "--set", help=SET_HELP),
            steps: int = typer.Option(100, help="Training steps, the learning rate growing geometrically."),
            start: float = typer.Option(1e-7, help="The first learning rate."),
            end: float = typer.Option(10.0, help="The last learning rate (the test stops sooner if the loss diverges)."),
            plot: Path = typer.Option(Path("lr_find.png"), help="Where the loss-against-rate plot is written.")):
    """The learning-rate range test: which optim.lr to try, from the loss as the rate grows."""
    import base64

    _setup_logging(True)
    from ..procedure import lr_find as find
    from ..report.plots import lr_find as draw

    r = find(recipe, set_ or [], start=start, end=end, steps=steps)
    plot.write_bytes(base64.b64decode(draw(r).split(",", 1)[1]))
    if r["steepest"] is None:
        _console().print(f"the loss diverged after {len(r['lr'])} steps; lower --start. Plot: {plot}")
        return
    _console().print(f"{recipe.name}: {len(r['lr'])} steps from lr {r['lr'][0]:.2g} to {r['lr'][-1]:.2g} "
                     f"({r['optimizer']}, batch {r['batch_size']})\n"
                     f"  steepest descent of the loss at lr {r['steepest']:.2g}; minimum at {r['minimum']:.2g} "
                     f"(a tenth of it: {r['minimum_over_10']:.2g}); the recipe has {r['recipe_lr']:g}\n"
                     f"  try: trainlab run {recipe} --set optim.lr={r['steepest']:.2g} · plot: {plot}")


@app.command("learning-curve")
def learning_curve(recipe: Path = typer.Argument(..., help="The recipe to train on growing parts of its training split."),
                   fractions: str = typer.Option("0.1,0.25,0.5,1", help="Fractions of the training split, comma-separated."),
                   repeats: Optional[int] = typer.Option(None, help="Repeat each point over N split seeds (mean ± std)."),
                   same_epochs: bool = typer.Option(False, "--same-epochs", help="Every point with the recipe's epochs "
                                                    "(default: as many optimiser steps as the whole split)."),
                   runs_dir: Path = typer.Option(Path("runs"), help="The curve's folder goes here: RUNS_DIR/NAME-curve."),
                   set_: Optional[List[str]] = typer.Option(None, "--set", help=SET_HELP),
                   quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output.")):
    """Would more data help? The test score against the training-set size, beside the baselines;
    run it again to continue."""
    _setup_logging(quiet)
    from ..core.errors import RecipeError
    from ..curve import learning_curve as draw_curve

    try:
        values = [float(f) for f in fractions.split(",") if f.strip()]
    except ValueError:
        raise RecipeError(f"--fractions takes numbers separated by commas, e.g. 0.1,0.25,0.5,1; received {fractions!r}.") from None
    over = [*(set_ or []), *([f"eval.repeats={repeats}"] if repeats is not None else [])]
    _print_curve(draw_curve(recipe, values, over, runs_dir=runs_dir, equal_steps=not same_epochs, progress=not quiet))


def _print_curve(curve: dict) -> None:
    from ..report import fmt

    console = _console()
    for p in curve["points"]:
        spread = f" ± {fmt(p['std'])}" if p["std"] is not None else ""
        base = "".join(f" · {n} {fmt(v)}" for n, v in p["baselines"].items())
        console.print(f"{p['train_samples']:>9,} training samples: {p['metric']} {fmt(p['mean'])}{spread}{base}",
                      highlight=False)
    for sentence in curve["verdict"]:
        console.print(sentence, highlight=False)
    console.print(f"curve: {curve['report']}")


@app.command()
def ablate(recipe: Path = typer.Argument(..., help="The recipe as it is: the reference of every change."),
           change: List[str] = typer.Option(..., "--change", help="One change, tried alone: KEY=VALUE, several joined "
                                            "by ';' (e.g. 'optim.name=sgd;optim.lr=0.05'). Repeat for more changes."),
           repeats: Optional[int] = typer.Option(None, help="Repeat every run over N split seeds (a paired t-test)."),
           runs_dir: Path = typer.Option(Path("runs"), help="The ablation's folder goes here: RUNS_DIR/NAME-ablation."),
           set_: Optional[List[str]] = typer.Option(None, "--set", help=SET_HELP),
           quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output.")):
    """Which choices matter? The recipe and each change of it alone, on the same splits, each tested
    against the recipe; run it again to continue."""
    _setup_logging(quiet)
    from ..ablation import ablate as run_ablation

    over = [*(set_ or []), *([f"eval.repeats={repeats}"] if repeats is not None else [])]
    _print_ablation(run_ablation(recipe, [[o.strip() for o in c.split(";") if o.strip()] for c in change], over,
                                 runs_dir=runs_dir, progress=not quiet))


def _print_ablation(out: dict) -> None:
    from rich.table import Table

    from ..report import pvalue

    key = out["metric"]
    table = Table(title=f"{out['name']}: one change at a time (test {key})")
    for col in ("change", key, "difference", "paired test", "", ""):
        table.add_column(col, justify="left" if col in ("change", "paired test") else "right")

    def value(s: dict) -> str:
        return f"{s['value']:.4f}" + (f" ± {s['std']:.4f}" if s["std"] is not None else "")

    table.add_row("(the recipe as it is)", value(out["base"]), "", "", "", "")
    for c in out["changes"]:
        diff = -c["mean_difference"]  # the change minus the recipe as it is
        table.add_row(c["change"], value(c), f"{diff:+.4f}", c["test"] or c.get("note", ""),
                      "" if c["p_value"] is None else pvalue(c["p_value"]) + (
                          f" (Holm: {pvalue(c['p_holm']).removeprefix('p = ')})" if "p_holm" in c else ""),
                      "significant" if c["significant"] else "")
    _console().print(table)
    _console().print(f"ablation: {out['report']}")


@app.command()
def sweep(recipe: Path = typer.Argument(..., help="The recipe to tune."),
          space: Path = typer.Option(..., "--space", help="Search space TOML: [params] recipe key → {low, high, log, int} "
                                     "or {choices}; [sweep] metric (a validation column), direction."),
          trials: int = typer.Option(20, help="Trials in the whole study, shared by every worker."),
          storage: Optional[str] = typer.Option(None, help="Optuna storage URL (default: sqlite in RUNS_DIR/STUDY/study.db); "
                                                "e.g. postgresql://user@host/db for workers on several machines."),
          study: Optional[str] = typer.Option(None, help="Study name (default: RECIPE-sweep)."),
          runs_dir: Path = typer.Option(Path("runs"), help="Where trial folders and the final run go."),
          set_: Optional[List[str]] = typer.Option(None, "--set", help=SET_HELP),
          quiet: bool = typer.Option(False, "--quiet", "-q")):
    """Tune a recipe with Optuna on the validation split; test the best once. Start several workers with
    the same command to share the trials."""
    import json

    _setup_logging(quiet)
    from ..sweep import sweep as run_sweep

    if trials < 1:
        from ..core.errors import RecipeError

        raise RecipeError(f"--trials must be at least 1; received {trials}.")
    out = run_sweep(recipe, space, trials, storage=storage, study=study, runs_dir=runs_dir, overrides=set_ or [])
    print(json.dumps(out, default=str))


@app.command()
def gradcheck(recipe: Path = typer.Argument(..., help="A recipe; its model is checked on two of its training samples."),
              set_: Optional[List[str]] = typer.Option(None, "--set", help=SET_HELP),
              coords: int = typer.Option(200, help="Parameter coordinates compared with finite differences."),
              graph: Optional[Path] = typer.Option(None, help="Write the computational graph here (.dot; .svg if Graphviz is installed).")):
    """Compare autograd's gradients with finite differences (float64), and draw the graph."""
    _setup_logging(True)
    from rich.table import Table

    from ..core.errors import TrainlabError
    from ..procedure import gradient_check

    result, dot = gradient_check(recipe, set_ or [], coords)
    table = Table(title=f"gradient check of {recipe} (float64, ε = {result['eps']:g}, loss {result['loss']:.5g})")
    for col in ("tensor", "coordinates", "max |autograd − finite difference|", "max relative error"):
        table.add_column(col, justify="left" if col == "tensor" else "right")
    for name, e in [*result["by_parameter"].items(), ("input x", result["inputs"])]:
        table.add_row(name, str(e["checked"]), f"{e['max_abs_error']:.2e}", f"{e['max_rel_error']:.2e}")
    _console().print(table)
    _console().print(f"{result['parameters']:,} parameters · " + ("[green]gradients agree[/]" if result["passed"]
                                                                   else "[red]gradients DISAGREE[/]"))
    if graph is not None:
        _write_graph(graph, dot)
    if not result["passed"]:
        raise TrainlabError("Autograd and finite differences disagree by more than 1e-6: see the table above.")


def _write_graph(path: Path, dot: str) -> None:
    import shutil
    import subprocess

    if path.suffix.lower() == ".svg":
        if shutil.which("dot") is None:
            path = path.with_suffix(".dot")
            _console().print("Graphviz's dot is not installed: writing DOT text instead (apt-get install graphviz).")
        else:
            subprocess.run(["dot", "-Tsvg", "-o", str(path)], input=dot.encode(), check=True)
            _console().print(f"graph: {path}")
            return
    path.write_text(dot)
    _console().print(f"graph: {path}")


@app.command("runs")
def runs_(runs_dir: Path = typer.Option(Path("runs"), help="The runs folder."),
          filter_: Optional[List[str]] = typer.Option(None, "--filter", help="column=value or column~text, e.g. status=finished, name~tp1.")):
    """List the runs registered in RUNS_DIR/index.sqlite."""
    from rich.table import Table

    from ..report.index import list_runs

    rows = list_runs(runs_dir, filter_ or [])
    table = Table(title=f"{len(rows)} runs in {runs_dir}")
    for col in ("run", "status", "dataset", "model", "metric", "duration", "recipe hash"):
        table.add_column(col, justify="right" if col in ("metric", "duration") else "left")
    for r in rows:
        metric = "" if r["metric"] is None else f"{r['metric_name']} {r['metric']:.4f}" + (
            f" ± {r['metric_std']:.4f} ({r['repeats']})" if r["metric_std"] is not None and r["repeats"] > 1 else "")
        table.add_row(Path(r["path"]).name, r["status"], r["dataset"] or "", r["model"], metric,
                      f"{r['duration']:.0f} s" if r["duration"] else "", r["recipe_hash"])
    _console().print(table)


@app.command()
def compare(run_dirs: List[Path] = typer.Argument(..., help="Two or more run directories."),
            out: Optional[Path] = typer.Option(None, help="HTML file to write (default: runs/compare-<time>.html).")):
    """One page comparing runs: metrics, a significance test, learning curves, recipe diff."""
    from datetime import datetime

    from ..procedure import load_run
    from ..report import headline_keys, pvalue
    from ..report.compare import against_first, check_comparable, compare_page

    runs = [load_run(d) for d in run_dirs]
    check_comparable(runs)
    out = out or run_dirs[0].parent / f"compare-{datetime.now():%Y%m%d-%H%M%S}.html"
    key = next(k for k in headline_keys(runs[0].metrics) if all(k in r.metrics["test"] for r in runs))
    tests = against_first(runs, key)
    compare_page(runs, out, tests=tests)
    for i, (r, t) in enumerate(zip(runs[1:], tests), 1):
        word = "right" if runs[0].metrics["spec"]["target"] == "class" else "closer"
        only = f" ({word} only in run 0: {t['only'][0]:,}, only in run {i}: {t['only'][1]:,})" if "only" in t else ""
        verdict = (f"{t['test']}{only}: {pvalue(t['p_value'])}, " + ("significant" if t["significant"] else "not significant")
                   if t["test"] else t["note"])
        _console().print(f"{key}: run {0 if t['better'] == 0 else i} ({(runs[0] if t['better'] == 0 else r).recipe.name}) "
                         f"is better by {abs(t['mean_difference']):.4f} · {verdict}")
    _console().print(f"comparison: {out}")


@app.command()
def reproduce(run_dir: Path = typer.Argument(..., help="A finished run directory."),
              data_path: Path = typer.Option(None, "--data-path", help="Where the run's data is now, when it moved "
                                             "(data.path): another machine, a colleague's copy."),
              quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar.")):
    """Run a finished run's recipe again (into RUN/reproduction/) and say whether it reproduces: the test
    predictions sample by sample, every headline metric, every epoch's validation loss."""
    from ..procedure import reproduce as again

    r = again(run_dir, progress=not quiet, data_path=data_path)
    said = [] if r["same_test_samples"] else ["tested on other samples than the first run (has the data changed?)"]
    if "differing_predictions" in r:
        said.append(f"the same prediction for all {r['test_samples']:,} test samples" if not r["differing_predictions"]
                    else f"{r['differing_predictions']:,} of {r['test_samples']:,} test predictions differ")
    said.append("every headline metric equal" if not r["largest_metric_difference"] else
                f"headline metrics differ by up to {r['largest_metric_difference']:.3g}")
    what, rows = r["history_of"], "epochs" if r["history_of"] == "validation loss" else "evaluations"
    said.append(f"the {what} of all {r['epochs'][0]} {rows} equal" if r["first_differing_epoch"] is None
                and r["epochs"][0] == r["epochs"][1] else
                f"{what.replace('loss', 'losses').replace('return', 'returns')} differ from {rows[:-1]} {r['first_differing_epoch'] or min(r['epochs']) + 1} (by up to "
                f"{r['largest_history_difference']:.3g}; {r['epochs'][0]} and {r['epochs'][1]} {rows} run)")
    envs = [f"{e.get('torch', '?')} on {e.get('device', '?')}" for e in r["environments"]]
    where = "" if envs[0] == envs[1] else f" (PyTorch {envs[0]} then {envs[1]})"
    _console().print(("[green]Reproduced exactly: " if r["identical"] else "[yellow]Reproduced approximately: ")
                     + "; ".join(said) + f"{where}. The second run: {run_dir / r['run']}", highlight=False)


@recipe_app.command("schema")
def recipe_schema():
    """Print the JSON Schema of a recipe."""
    from ..core.config import schema

    print(json.dumps(schema(), indent=2))


@recipe_app.command("new")
def recipe_new(data: Path = typer.Argument(..., help="Your data: a table (.csv, .tsv, .parquet), texts (.jsonl), "
                                           "arrays (.npz or a folder of .npy), or a folder of images."),
               label: Optional[str] = typer.Option(None, help="The table's label column."),
               out: Optional[Path] = typer.Option(None, help="Write the recipe here instead of printing it.")):
    """A starter recipe for your data: the dataset entry that reads it, a model and a stopping rule."""
    from ..core.config import to_toml
    from ..starter import starter_recipe

    d, notes = starter_recipe(data, label)
    text = "".join(f"# {n}\n" for n in notes) + to_toml(d)
    if out is None:
        print(text, end="")
        return
    out.write_text(text)
    _console().print(f"wrote {out}: trainlab recipe check {out} shows it with every default; trainlab run {out} runs it")


@recipe_app.command("check")
def recipe_check(recipe: Path, set_: Optional[List[str]] = typer.Option(None, "--set", help=SET_HELP)):
    """Validate a recipe (and overrides) and print it resolved, with every default."""
    from ..core.config import load_recipe, to_toml
    from ..procedure import resolve

    print(to_toml(resolve(load_recipe(recipe, set_ or [])).to_dict()), end="")


def main() -> None:
    import signal

    from ..core.errors import TrainlabError

    # A run started in the background of a script inherits SIGINT ignored; `kill -INT` must still stop it
    # cleanly (checkpoint kept, status "interrupted", exit code 130).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        app()
    except TrainlabError as err:
        from rich.console import Console
        from rich.markup import escape

        Console(stderr=True).print(f"[bold red]error:[/] {escape(str(err))}", highlight=False, soft_wrap=True)
        sys.exit(err.exit_code)


if __name__ == "__main__":
    main()
