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
    logging.getLogger("lightning").setLevel(logging.WARNING)
    logging.getLogger("lightning.fabric").setLevel(logging.WARNING)


def _console():
    from rich.console import Console

    return Console()


def _print_summary(run) -> None:
    from rich.table import Table

    m, console = run.metrics, _console()
    test, fit, target = m["test"], m["fit"], m["spec"]["target"]
    keys = ["accuracy", "balanced_accuracy", "f1_macro", "roc_auc", "loss"] if target == "class" else ["r2", "rmse", "mae", "mse"]
    rep = (m.get("repeats") or {}).get("test", {})
    table = Table(title=f"{run.recipe.name}: test metrics ({m['data']['sizes']['test']} samples, best epoch "
                        f"{fit['best_epoch']} of {fit['epochs_run']})")
    table.add_column("metric")
    table.add_column("this run", justify="right")
    if rep:
        table.add_column(f"mean ± std over {len(m['repeats']['seeds'])} seeds", justify="right")
        table.add_column("95% interval", justify="right")
    base = (m.get("baselines") or {}).get("models", {})
    for name in base:
        table.add_column(name, justify="right")
    for k in keys:
        if k not in test:
            continue
        row = [k, f"{test[k]:.4f}"]
        if rep:
            s = rep.get(k)
            row += [f"{s['mean']:.4f} ± {s['std']:.4f}", f"[{s['ci95'][0]:.4f}, {s['ci95'][1]:.4f}]"] if s else ["", ""]
        rep_base = (m.get("repeats") or {}).get("baselines", {})
        row += [(f"{rep_base[n][k]['mean']:.4f} ± {rep_base[n][k]['std']:.4f}" if n in rep_base else f"{b[k]:.4f}")
                if k in b else "" for n, b in base.items()]
        table.add_row(*row)
    console.print(table)
    console.print(f"trained {fit['steps']} steps in {fit['train_seconds']:.1f} s on {fit['device']} · run: {run.path}"
                  + (f" · report: {run.path / 'report.html'}" if (run.path / "report.html").is_file() else ""))


@app.command()
def run(recipe: Path = typer.Argument(..., help="Recipe TOML file, e.g. recipes/tp1-mlp.toml."),
        set_: Optional[List[str]] = typer.Option(None, "--set", help=SET_HELP),
        repeats: Optional[int] = typer.Option(None, help="Repeat over N split seeds; report mean ± std and a 95% interval."),
        runs_dir: Path = typer.Option(Path("runs"), help="Where run directories are created."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output.")):
    """Train, test once and report a recipe."""
    _setup_logging(quiet)
    from ..procedure import run as run_recipe

    if repeats is not None and repeats < 1:
        from ..core.errors import RecipeError

        raise RecipeError(f"--repeats must be at least 1; received {repeats}.")
    _print_summary(run_recipe(recipe, set_ or [], repeats=repeats, runs_dir=runs_dir, progress=not quiet))


@app.command()
def resume(run_dir: Path = typer.Argument(..., help="A run directory, e.g. runs/tp1-mlp-20260101-120000."),
           quiet: bool = typer.Option(False, "--quiet", "-q")):
    """Continue an interrupted run from its last checkpoint."""
    _setup_logging(quiet)
    from ..procedure import resume as resume_run

    _print_summary(resume_run(run_dir, progress=not quiet))


@app.command()
def show(run_dir: Path = typer.Argument(..., help="A run directory.")):
    """Print a finished run's summary."""
    from ..core.errors import CheckpointError
    from ..procedure import load_run

    r = load_run(run_dir)
    if not r.metrics:
        raise CheckpointError(f"Run {str(run_dir)!r} has no results yet (status: {r.status}). "
                              f"If it was interrupted, continue it with: trainlab resume {run_dir}")
    _print_summary(r)


@app.command("list")
def list_(kind: str = typer.Argument(..., help="models | datasets | tasks | optimizers | schedules")):
    """List what a registry holds, with each entry's recipe keys."""
    from rich.table import Table

    from ..registries import list_registry

    table = Table(title=kind)
    table.add_column("name")
    table.add_column("what it is")
    table.add_column("recipe keys (defaults)")
    for e in list_registry(kind):
        keys = ", ".join(f"{n}={'required' if f.is_required() else json.dumps(f.default)}"
                         for n, f in e.params.model_fields.items())
        table.add_row(e.name, e.summary, keys)
    _console().print(table)


@recipe_app.command("schema")
def recipe_schema():
    """Print the JSON Schema of a recipe."""
    from ..core.config import schema

    print(json.dumps(schema(), indent=2))


@recipe_app.command("check")
def recipe_check(recipe: Path, set_: Optional[List[str]] = typer.Option(None, "--set", help=SET_HELP)):
    """Validate a recipe (and overrides) and print it resolved, with every default."""
    from ..core.config import load_recipe, to_toml
    from ..procedure import resolve

    print(to_toml(resolve(load_recipe(recipe, set_ or [])).to_dict()), end="")


def main() -> None:
    from ..core.errors import TrainlabError

    try:
        app()
    except TrainlabError as err:
        from rich.console import Console
        from rich.markup import escape

        Console(stderr=True).print(f"[bold red]error:[/] {escape(str(err))}", highlight=False, soft_wrap=True)
        sys.exit(err.exit_code)


if __name__ == "__main__":
    main()
