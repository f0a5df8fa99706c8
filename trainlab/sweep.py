"""Hyper-parameter sweeps with Optuna. The objective is a validation metric; the test split is
touched once, by the best trial's recipe, trained again from scratch as an ordinary run at the end.
Trials whose learning curves fall behind are pruned. The study lives in a database (SQLite by
default, any URL Optuna accepts), so many workers on many machines share it: start each with the
same command; together they run `trials` trials."""
from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

from .core.config import apply_overrides, parse_recipe, to_toml
from .core.errors import RecipeError, TrainlabError
from .plugins import keep

log = logging.getLogger("trainlab")


def load_space(path: Path) -> tuple[dict, dict]:
    """A search space TOML: [params] maps recipe keys to {low, high, log?, int?} or {choices = [...]};
    [sweep] may set metric (a validation column, default val_loss) and direction (minimize|maximize)."""
    import tomllib

    try:
        d = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise RecipeError(f"Search space {str(path)!r} does not exist.") from None
    except tomllib.TOMLDecodeError as err:
        raise RecipeError(f"Search space {str(path)!r} is not valid TOML: {err}.") from None
    params, sweep = d.get("params", {}), d.get("sweep", {})
    unknown = set(d) - {"params", "sweep"} or set(sweep) - {"metric", "direction"}
    if unknown or not params:
        raise RecipeError(f"Search space {str(path)!r}: expected [params] (recipe key → range or choices) and "
                          f"optionally [sweep] (metric, direction); {'unknown ' + sorted(unknown)[0] if unknown else 'no [params]'}.")
    for key, spec in params.items():
        if not isinstance(spec, dict) or not ({"choices"} <= set(spec) or {"low", "high"} <= set(spec)):
            raise RecipeError(f"Search space: {key!r} needs {{low, high}} (with log, int) or {{choices = [...]}}; "
                              f"received {spec!r}.")
    sweep.setdefault("metric", "val_loss")
    sweep.setdefault("direction", "minimize" if sweep["metric"].endswith("loss") else "maximize")
    return params, sweep


def _suggest(trial, params: dict) -> list[str]:
    over = []
    for key, spec in params.items():
        if "choices" in spec:
            # Optuna stores choices as given; lists become their TOML text to stay hashable
            choices = [json.dumps(c) for c in spec["choices"]]
            value = json.loads(trial.suggest_categorical(key, choices))
        elif spec.get("int"):
            value = trial.suggest_int(key, int(spec["low"]), int(spec["high"]), log=bool(spec.get("log")))
        else:
            value = trial.suggest_float(key, float(spec["low"]), float(spec["high"]), log=bool(spec.get("log")))
        over.append(f"{key}={json.dumps(value)}")
    return over


def sweep(recipe_path: Path, space_path: Path, trials: int, *, storage: str | None = None, study: str | None = None,
          runs_dir: Path = Path("runs"), overrides: list[str] = ()) -> dict:
    """Run trials until the study holds `trials` finished ones (shared with other workers); the
    worker that sees the study complete trains the best recipe, tests it once and writes the report."""
    try:
        import optuna
    except ImportError:
        raise TrainlabError("trainlab sweep needs Optuna: pip install 'trainlab[sweep]'.") from None
    from .procedure import _load_raw, _resolved, validate_only

    base = _resolved(recipe_path, overrides)
    params, settings = load_space(space_path)
    _one_process_each(base, params)
    for key in params:  # every swept key must be a valid recipe key: fail before any trial
        probe = params[key].get("choices", [params[key].get("low")])[0]
        _resolved(base, [f"{key}={json.dumps(probe)}"])
    study_name = study or f"{base.name}-sweep"
    folder = Path(runs_dir) / study_name
    folder.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    s = _open_study(optuna, study_name, storage or f"sqlite:///{(folder / 'study.db').resolve()}", settings["direction"])
    metric = settings["metric"]
    # the dataset is read once for all trials, unless the sweep changes how it is read
    raw = None if any(k.startswith("data.") for k in params) else _load_raw(base)

    def objective(trial):
        if trial.number >= trials:  # another worker took the last trial
            trial.set_user_attr("over_budget", True)
            s.stop()
            raise _OverBudget()
        over = _suggest(trial, params)
        recipe = parse_recipe(apply_overrides(base.to_dict(), over))

        def report(row):
            if metric not in row:
                raise RecipeError(f"Sweep metric {metric!r} is not a validation column; columns: {', '.join(row)}.")
            trial.report(row[metric], row["epoch"])
            if trial.should_prune():
                raise optuna.TrialPruned()

        out = validate_only(_resolved(recipe), folder / f"trial-{trial.number:04d}", report, raw)
        trial.set_user_attr("overrides", over)
        trial.set_user_attr("best_epoch", out["best_epoch"])
        return out["best"][metric]

    s.optimize(objective, callbacks=[_stop_at(trials)], catch=(_OverBudget,))
    return _finish(s, base, params, settings, folder, trials, runs_dir)


def _one_process_each(base, params) -> None:
    """A sweep runs each trial in one process and spreads trials over workers (more commands); a
    data-parallel recipe would have its processes start more sweep workers."""
    from .engine.runtime import distributed

    scaled = [k for k in params if k in ("train.devices", "train.num_nodes", "train.strategy")]
    if distributed(base) or scaled:
        raise RecipeError("A sweep trains each trial in one process: run more workers (the same `trainlab sweep` "
                          "command in other terminals or on other machines, with --storage) instead of "
                          f"{scaled[0] if scaled else 'train.devices / train.num_nodes / train.strategy / torchrun'}. "
                          "Train the best recipe data-parallel afterwards: trainlab run best.toml --devices N.")


def _open_study(optuna, name: str, url: str, direction: str):
    """Create or join the study. Workers started together race to create the database schema: the
    losers retry. SQLite waits up to a minute for a lock instead of failing."""
    kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    last = None
    for attempt in range(20):
        try:
            storage = optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
            return optuna.create_study(study_name=name, storage=storage, direction=direction, load_if_exists=True,
                                       sampler=optuna.samplers.TPESampler(),
                                       pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1))
        except Exception as err:  # sqlalchemy IntegrityError / OperationalError while another worker creates it
            last = err
            time.sleep(0.2 * (attempt + 1))
    raise TrainlabError(f"Cannot open the sweep database {url!r}: {last}")


class _OverBudget(Exception):
    pass


def _stop_at(trials: int):
    def callback(study, trial):
        from optuna.trial import TrialState

        # running trials count too, so that a worker does not start one another worker will finish
        if len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING))) >= trials:
            study.stop()
    return callback


def _finish(s, base, params, settings, folder: Path, trials: int, runs_dir: Path) -> dict:
    """Once no trial runs any more, one worker (the first to create final.lock) trains the best
    recipe as a full run and writes best.toml and sweep.html; the others return."""
    from optuna.trial import TrialState

    while any(t.state == TrialState.RUNNING for t in s.get_trials(deepcopy=False)):
        time.sleep(1.0)
    done = [t for t in s.get_trials(deepcopy=False) if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    summary = {"study": s.study_name, "trials": len(done), "folder": str(folder),
               "complete": sum(t.state == TrialState.COMPLETE for t in done),
               "pruned": sum(t.state == TrialState.PRUNED for t in done)}
    try:
        fd = os.open(folder / "final.lock", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return {**summary, "final": "done by another worker"}
    os.close(fd)
    from .procedure import run

    best = s.best_trial
    recipe = parse_recipe(apply_overrides(base.to_dict(), best.user_attrs["overrides"]))
    (folder / "best.toml").write_text(f"# best of {len(done)} trials of {s.study_name}: "
                                      f"{settings['metric']} = {best.value:.6g} (trial {best.number})\n"
                                      + to_toml(keep(recipe.to_dict(), folder)))  # plugins copied beside it
    final = run(recipe, runs_dir=runs_dir, progress=False)  # the one test evaluation
    from .report.sweep import write_sweep_report

    write_sweep_report(folder, s, params, settings, final)
    return {**summary, "best_trial": best.number, "best_value": best.value, "best_params": best.params,
            "best_recipe": str(folder / "best.toml"), "final_run": str(final.path),
            "test": {k: v for k, v in final.metrics["test"].items() if isinstance(v, (int, float))}}
