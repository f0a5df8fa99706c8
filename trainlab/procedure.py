"""One run of the procedure (SPEC §1): data → split → model → train → test once → baselines
→ repeats → report. Every step's output lands in the run directory, so an interrupted run
resumes where it stopped and a finished one can be re-run exactly from its recipe."""
from __future__ import annotations

import contextlib
import copy
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from .core.config import Recipe, load_recipe, parse_recipe, to_toml
from .core.errors import CheckpointError, DataError, RecipeError, TrainlabError
from .core.spec import DataSpec
from .plugins import identity, keep, load, ours

log = logging.getLogger("trainlab")
CACHE = ".cache"  # in the runs folder: what one run computed and the next on the same data reuses
_WARNED: set = set()  # user entries outside the recipe's plugins, warned about once per process


class Interrupted(TrainlabError):
    exit_code = 130


@dataclass
class Run:
    """A run directory, read back: the resolved recipe and the final metrics."""

    path: Path
    recipe: Recipe
    metrics: dict = field(default_factory=dict)
    main: bool = True  # the process that wrote it (False in the other processes of a data-parallel run)

    @property
    def history(self) -> list[dict]:
        f = self.path / "metrics.jsonl"
        return [json.loads(line) for line in f.read_text().splitlines()] if f.is_file() else []

    @property
    def status(self) -> str:
        return _read_json(self.path / "run.json").get("status", "unknown")

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r}, status={self.status!r})"

    @property
    def predictor(self):
        """The best model with its training preprocessing (loaded once)."""
        if getattr(self, "_predictor", None) is None:
            from .serve.predictor import Predictor

            self._predictor = Predictor(self.path)
        return self._predictor

    def predict(self, x) -> dict:
        """Predict raw inputs (training units): image arrays, table rows as arrays or dicts, texts."""
        return self.predictor.predict(x)


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{str(path)!r} is corrupt: {err}.") from None


def _write_json(path: Path, obj) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1, default=str))
    tmp.replace(path)


def resolve(recipe: Recipe) -> Recipe:
    """Check every named section against its registry and fill in the defaults, so the stored
    recipe says everything the run used. Fails before any data is read."""
    import torch

    from .data.datasets import DATASETS
    from .engine.optim import OPTIMIZERS, SCHEDULES, build_optimizer
    from .models import MODELS

    modules = load(recipe.plugins)
    d = recipe.to_dict()
    if recipe.is_rl:
        from .rl.registry import AGENTS, ENVIRONMENTS

        first = (("env", ENVIRONMENTS), ("agent", AGENTS))
    else:
        first = (("data", DATASETS),)
    for section, registry in (*first, ("model", MODELS), ("optim", OPTIMIZERS), ("schedule", SCHEDULES)):
        cfg = getattr(recipe, section)
        entry = registry.get(cfg.name)
        if not ours(entry, modules) and (registry.kind, entry.name) not in _WARNED:
            _WARNED.add((registry.kind, entry.name))
            log.warning("%s %r comes from %s, which the recipe's plugins do not name: this process can train it, but "
                        "resume, predict and serve in another cannot rebuild it. Put it in a file and name the file "
                        "in the recipe's plugins.", registry.kind, entry.name, entry.where)
        params = entry.validate(cfg.params, section, also=type(cfg).model_fields)
        if section == "optim" and entry.builtin:  # over a dummy parameter: what torch refuses, before any data
            build_optimizer(entry, [torch.nn.Parameter(torch.zeros(1))], params)  # (a user's: in fit, on real ones)
        # None means "the builder's own default" and TOML has no null: leave it out
        d[section].update({k: (list(v) if isinstance(v, tuple) else v) for k, v in params.items() if v is not None})
    if recipe.eval.metrics:
        from .evaluate.metrics import resolved

        d["eval"]["metrics"] = resolved(recipe.eval.metrics)
    return parse_recipe(d)


def _resolved(recipe: str | Path | Recipe, overrides=(), label: str | None = None) -> Recipe:
    """A recipe file or object (or data: a table, arrays, a folder of images, read with a starter
    recipe), with overrides applied, checked against the registries."""
    if not isinstance(recipe, Recipe) and Path(recipe).suffix.lower() != ".toml":
        from .starter import starter_recipe

        d, notes = starter_recipe(recipe, label, overrides)
        for note in notes:
            log.info("%s: %s", Path(recipe).name, note)
        recipe = parse_recipe(d, str(recipe))
    elif label is not None:
        raise TrainlabError(f"label = {label!r} is for data without a recipe; a recipe names it with data.label.")
    if not isinstance(recipe, Recipe):
        return resolve(load_recipe(recipe, overrides))
    if overrides:
        from .core.config import apply_overrides

        recipe = parse_recipe(apply_overrides(recipe.to_dict(), list(overrides)))
    return resolve(recipe)


def _build(recipe: Recipe, data, seed: int):
    """(task, model) for a recipe on prepared data, the model initialised from `seed`."""
    from .core.seed import seed_everything
    from .models import build_model, check_user_model
    from .tasks import build_task

    seed_everything(seed)
    task = build_task(recipe.task.name, data.spec, recipe.task.params, normalizer=data.normalizer,
                      y_train=data.split.y_train)
    model = build_model(recipe.model.name, data.spec, task.output_size(), **recipe.model.params)
    check_user_model(recipe.model.name, model, data.spec, task)
    return task, model


def _trainer(recipe: Recipe, data, seed: int, device: str, fabric=None):
    """(task, model, data as the task trains on it, fabric) for one training: the model initialised
    from `seed`, in the device's layout, and a Fabric with the precision it calls for (unless the
    data-parallel processes already share one)."""
    from .engine.runtime import choose_precision, conv_layout, make_fabric
    from .engine.sharding import is_sharded

    task, model = _build(recipe, data, seed)
    data = task.adapt(data)
    if fabric is None or not is_sharded(fabric):  # FSDP shards contiguous parameters only
        model = conv_layout(model, device)
    if fabric is None:
        fabric = make_fabric(device, choose_precision(recipe.train.precision, device, model))
    return task, model, data, fabric


def _new_run_dir(runs_dir: Path, name: str) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path, i = runs_dir / f"{name}-{stamp}", 1
    while path.exists():
        i += 1
        path = runs_dir / f"{name}-{stamp}-{i}"
    path.mkdir(parents=True)
    return path


def run(recipe: str | Path | Recipe, overrides: list[str] = (), *, repeats: int | None = None,
        runs_dir: str | Path = "runs", progress: bool = True, label: str | None = None) -> Run:
    """Train, test and report a recipe, or data without one (a table, with its `label` column; arrays;
    a folder of images: trainlab.starter chooses the recipe); returns the finished Run."""
    from .models import MODELS

    if repeats is not None:
        overrides = [*overrides, f"eval.repeats={repeats}"]
    recipe = _resolved(recipe, overrides, label)
    raw = _load_raw(recipe)  # bad data fails here, before a run directory exists
    if raw is not None:  # and so does an augmentation the data cannot take
        _check_before_run(recipe, raw)
    fabric, data = _launch(recipe, raw)  # several processes: each continues from here
    if raw is not None and not MODELS.get(recipe.model.name).builtin:  # a user's model meets the data before a
        data = data if data is not None else _prepare(raw, recipe, recipe.seed)  # run directory exists
        _build(recipe, data, recipe.seed)
    path = None
    if fabric is None or fabric.is_global_zero:
        path = _new_run_dir(Path(runs_dir), recipe.name)
        (path / "recipe.toml").write_text(to_toml(keep(recipe.to_dict(), path)))  # with copies of its plugin files
        _write_json(path / "run.json", {"status": "created", "created": datetime.now().isoformat(timespec="seconds")})
        log.info("run directory %s", path)
    if fabric is not None:
        path = Path(fabric.broadcast(str(path) if path else None, src=0))
    return _execute(path, recipe, raw, progress, fabric, data)


def resume(path: str | Path, progress: bool = True, devices: int | None = None, num_nodes: int | None = None,
           strategy: str | None = None) -> Run:
    """Continue an interrupted run from its last checkpoint (or finish its report), on the same
    number of processes or another (`devices`, `num_nodes`: the batch size stays per device), with
    the same data-parallel strategy or another."""
    path = Path(path)
    if not (path / "recipe.toml").is_file():
        raise CheckpointError(f"{str(path)!r} is not a trainlab run directory (no recipe.toml in it).")
    recipe = resolve(load_recipe(path / "recipe.toml"))
    if _read_json(path / "run.json").get("status") == "finished":
        log.info("%s has already finished", path)
        return load_run(path)
    change = [f"train.{k}={v}" for k, v in (("devices", devices), ("num_nodes", num_nodes), ("strategy", strategy))
              if v is not None]
    if change:
        recipe = _resolved(recipe, change)
    raw = _load_raw(recipe)
    return _execute(path, recipe, raw, progress, *_launch(recipe, raw))


def run_in(folder: Path, recipe: Recipe, progress: bool = True) -> Run:
    """The run of exactly this (resolved) recipe in `folder`, a family of runs (a learning curve, an
    ablation): read if it finished, resumed if it was interrupted, started otherwise. So the command
    that makes the family continues where it stopped when it is run again."""
    want = identity(recipe.to_dict())
    for path in sorted(folder.glob("*/recipe.toml"), reverse=True):  # the newest first
        try:
            same = identity(load_recipe(path).to_dict()) == want
        except TrainlabError:  # a recipe an older trainlab wrote: not this one
            continue
        if same and _read_json(path.parent / "run.json").get("status") == "finished":
            log.info("finished before: %s", path.parent)
            return load_run(path.parent)
        if same:
            log.info("resuming %s", path.parent)
            return resume(path.parent, progress=progress)
    return run(recipe, runs_dir=folder, progress=progress)


def load_run(path: str | Path) -> Run:
    path = Path(path)
    if not (path / "recipe.toml").is_file():
        raise CheckpointError(f"{str(path)!r} is not a trainlab run directory (no recipe.toml in it).")
    return Run(path, load_recipe(path / "recipe.toml"), _read_json(path / "metrics.json"))


def reproduce(path: str | Path, progress: bool = True, data_path: str | Path | None = None) -> dict:
    """Run a finished run's stored recipe again, into RUN/reproduction/, and say how closely the two
    agree: the test predictions sample by sample, each headline metric, each epoch's validation loss,
    and the environments (trainlab, PyTorch, device). `data_path`: where the data is now, when it moved
    (another machine, a colleague's copy); the test set's digest still says whether the samples are the
    same. Written to RUN/reproduction.json."""
    import json

    from .report import headline_keys

    first = load_run(path)
    if not first.metrics:
        raise CheckpointError(f"Run {str(path)!r} has not finished (status: {first.status}); reproduce a finished run.")
    moved = [f"data.path={json.dumps(str(Path(data_path).resolve()))}"] if data_path else []
    try:
        again = run(first.path / "recipe.toml", moved, runs_dir=first.path / "reproduction", progress=progress)
    except DataError as err:
        if data_path:
            raise
        raise DataError(f"{err} If the data moved, say where it is now: trainlab reproduce {path} --data-path "
                        "PATH.") from None

    def scores(m: dict) -> dict:  # the headline test metrics; a reinforcement-learning run's mean returns
        if m.get("kind") == "rl":
            return {f"{k}_mean_return": v["mean"] for k, v in m["eval"].items() if isinstance(v, dict) and "mean" in v}
        return {k: m["test"][k] for k in headline_keys(m) if k in m["test"]}

    a, b = first.metrics, again.metrics
    sa, sb = scores(a), scores(b)
    keys = [k for k in sa if k in sb]
    key = "val_loss" if a.get("kind") != "rl" else "greedy_return"  # each epoch's, or each evaluation's
    history = [(x.get(key), y.get(key)) for x, y in zip(a.get("history", []), b.get("history", []))]
    off = [i + 1 for i, (x, y) in enumerate(history) if x != y]
    out = {"run": str(again.path.relative_to(first.path)), "metrics": {k: [sa[k], sb[k]] for k in keys},
           "history_of": "validation loss" if key == "val_loss" else "evaluation return",
           "largest_metric_difference": max((abs(sb[k] - sa[k]) for k in keys), default=0.0),
           "epochs": [len(a.get("history", [])), len(b.get("history", []))],
           "first_differing_epoch": off[0] if off else None,
           "largest_history_difference": max((abs(x - y) for x, y in history if x is not None and y is not None),
                                             default=0.0),
           "environments": [_read_json(r.path / "run.json").get("env", {}) for r in (first, again)]}
    files = [r.path / "test_predictions.npz" for r in (first, again)]
    out["same_test_samples"] = a.get("data", {}).get("test_digest") == b.get("data", {}).get("test_digest")
    if all(f.is_file() for f in files) and out["same_test_samples"]:
        with np.load(files[0]) as pa, np.load(files[1]) as pb:
            n = len(pa["pred"])
            out.update(test_samples=n, differing_predictions=int((pa["pred"] != pb["pred"]).reshape(n, -1).any(1).sum())
                       if pa["pred"].shape == pb["pred"].shape else n)
    out["identical"] = out["largest_metric_difference"] == 0 and not off and not out.get("differing_predictions") \
        and out["same_test_samples"]
    _write_json(first.path / "reproduction.json", out)
    return out


def _check_before_run(recipe: Recipe, raw) -> None:
    """What the recipe asks of this data that cannot be, found before a run directory exists: a task
    key it does not take or a bad value (the task is known only with the data), an augmentation or
    test-time augmentation without images, a monitored value the task does not compute."""
    from .data.transforms import BatchAugment
    from .evaluate import metrics, subgroups, tta
    from .tasks.base import TASKS, monitored, resolve_task_name

    task, ndim = resolve_task_name(recipe.task.name, raw), raw.x.ndim - 1
    TASKS.get(task).validate(recipe.task.params, "task")
    if task in ("classification", "regression"):  # and what they check when built (a loss for the classes there are)
        from .tasks import build_task

        spec = DataSpec(raw.kind, tuple(raw.x.shape[1:]), raw.target, len(raw.class_names), tuple(raw.class_names),
                        num_targets=1 if raw.y.ndim == 1 else raw.y.shape[1])
        build_task(task, spec, recipe.task.params, y_train=raw.y)
    BatchAugment.checked(recipe.data.augment, task, raw.kind, ndim)
    tta.check(recipe.eval.tta, task, raw.kind, ndim)
    metrics.check(recipe.eval.metrics, task, raw.target, len(raw.class_names), 1 if raw.y.ndim == 1 else raw.y.shape[1])
    subgroups.check(raw)
    monitored(task, recipe.train.early_stopping.monitor)
    if recipe.eval.conformal_by_class and not (recipe.eval.conformal and raw.target == "class"):
        raise RecipeError("eval.conformal_by_class fits conformal prediction sets class by class: it needs classes and "
                          "eval.conformal (e.g. 0.9).")
    fitted = recipe.eval.conformal and raw.target in ("class", "real") or recipe.eval.calibrate and raw.target == "class"
    if recipe.data.calibration_fraction and not fitted:
        raise RecipeError(f"data.calibration_fraction = {recipe.data.calibration_fraction} holds samples out of training "
                          "for eval.conformal (classes, values) or eval.calibrate (classes) to be fitted on, and the "
                          "recipe asks for neither for this data. Set one (e.g. eval.conformal = 0.9), or "
                          "data.calibration_fraction = 0.")


def _launch(recipe: Recipe, raw):
    """For a data-parallel recipe: (the Fabric shared by all its repeats, launched: processes started,
    or joined under torchrun / SLURM; the data prepared for the first repeat, which the precision was
    chosen from). (None, None) for one process."""
    from .engine.runtime import choose_device, choose_precision, distributed, make_fabric

    if recipe.is_rl or not distributed(recipe):
        return None, None
    t = recipe.train
    device = choose_device(t.device)
    data = _prepare(raw, recipe, recipe.seed)
    fabric = make_fabric(device, choose_precision(t.precision, device, lambda: _build(recipe, data, recipe.seed)[1]),
                         t.devices, t.num_nodes, t.strategy)
    fabric.launch()
    return fabric, data


def _load_raw(recipe: Recipe):
    if recipe.is_rl:
        return None  # the environment makes its own data
    from .data.prepare import load_raw

    return load_raw(recipe.data.name, recipe.data.params)


def _prepare(raw, recipe: Recipe, seed: int, checks: bool = True):
    """The recipe's data split and normalised for `seed`; `checks`: also look for test samples near training
    ones and for a test set that differs (for the report: a sweep trial, lr-find or bench need neither)."""
    from .data.prepare import prepare_config

    return prepare_config(recipe.data, seed, raw, recipe.eval.folds, recipe.seed, find_near=checks)


def _execute(path: Path, recipe: Recipe, raw, progress: bool, fabric=None, data=None) -> Run:
    from .engine.runtime import choose_device, environment

    from .report.index import record

    main = fabric is None or fabric.is_global_zero
    write, rec = (_write_json, record) if main else (_skip, _skip)  # one process writes the run's files
    info = _read_json(path / "run.json")
    device = choose_device(recipe.train.device)
    info.update(status="running", env=environment(device))
    if fabric is not None:
        info["env"]["processes"] = fabric.world_size
    write(path / "run.json", info)
    rec(path, recipe, "running")
    t0 = time.perf_counter()
    pictures = None
    try:
        if recipe.is_rl:
            from .rl.run import run_rl

            metrics = run_rl(path, recipe, device, progress)
            pictures = metrics.pop("pictures")
        else:
            metrics = _summarise(_train_repeats(path, recipe, raw, device, progress, fabric, data), recipe.eval.folds)
    except KeyboardInterrupt:
        info["status"] = "interrupted"
        write(path / "run.json", info)
        rec(path, recipe, "interrupted")
        raise Interrupted(f"Interrupted. Every finished epoch is checkpointed; continue with: trainlab resume {path}") from None
    except BaseException:
        info["status"] = "failed"
        write(path / "run.json", info)
        rec(path, recipe, "failed")
        raise
    write(path / "metrics.json", metrics)
    if recipe.report.html and main:
        from .report.html import write_report

        write_report(path, recipe, metrics, info["env"], pictures)
    info.update(status="finished", finished=datetime.now().isoformat(timespec="seconds"))
    write(path / "run.json", info)
    rec(path, recipe, "finished", metrics, time.perf_counter() - t0)
    if fabric is not None:
        fabric.barrier()  # the run's files exist before any process returns
    return Run(path, recipe, metrics, main)


def _skip(*args, **kwargs) -> None:
    """What a process other than the first does instead of writing a run file."""


def _train_repeats(path: Path, recipe: Recipe, raw, device: str, progress: bool, fabric=None, first_data=None):
    """Train and test every split seed; `first_data`: the first seed's data, when already prepared."""
    main = fabric is None or fabric.is_global_zero
    results = []
    for i in range(recipe.eval.repeats):
        folder = path if i == 0 else path / f"repeat-{i}"
        folder.mkdir(exist_ok=True)
        seed = recipe.seed + i
        done = _read_json(folder / "result.json")  # a finished repeat is not prepared or trained again
        if not done:
            data = first_data if i == 0 and first_data is not None else _prepare(raw, recipe, seed)
            done = _train_one(folder, recipe, data, device, seed, progress, first=i == 0, fabric=fabric,
                              cache=path.parent / CACHE)
            if main:
                _write_json(folder / "result.json", done)
        results.append(done)
    return results


def _explainable(task: str, spec) -> bool:
    """Attributions and learned features are drawn for classifiers of images, tables, points and series."""
    return task == "classification" and spec.kind in ("image", "table", "points", "series")


def _train_one(folder: Path, recipe: Recipe, data, device: str, seed: int, progress: bool, first: bool, fabric,
               cache: Path):
    """Train, test and compare with the baselines one split seed; returns its result. `fabric`: the data-parallel
    processes' shared Fabric (None: one process, a Fabric made here); `cache`: where fitted baselines are kept
    for the next run on the same data."""
    from .engine import checkpoint, sharding
    from .engine.loop import fit
    from .engine.runtime import precision_name, strategy_name
    from .evaluate.baselines import score_baselines
    from .evaluate.evaluator import evaluate_test
    from .evaluate.tta import with_tta

    if fabric is not None and (fabric.world_size > 1 or recipe.train.strategy == "fsdp") and recipe.task.name == "gan":
        raise TrainlabError("A GAN trains in one process without sharding (its judge classifier is trained first); "
                            "drop --devices and --strategy.")
    task, model, data, fabric = _trainer(recipe, data, seed, device, fabric)
    # a sharded model runs only with every process at each forward: test and explain a whole copy
    whole = copy.deepcopy(model) if sharding.is_sharded(fabric) else None
    if getattr(task, "judge_source", None):
        task.set_judge(*_judge(folder, task.judge_source, task.judge_set, device), device)
    precision = precision_name(fabric)
    main = fabric.is_global_zero
    resume = checkpoint.exists(folder / "checkpoints", "last")
    t0 = time.perf_counter()
    describe = {"recipe": recipe.to_dict(), "spec": data.spec.to_dict(), "normalizer": data.normalizer.to_dict(),
                "task": {"name": task.name, **task.state()}, "seed": seed,
                "tokenizer": data.tokenizer.to_dict() if data.tokenizer is not None else None}
    result = fit(model, task, data, recipe, folder, fabric, seed=seed, resume=resume, progress=progress,
                 describe=describe)
    # tested as predict, serve and export use it; explained as the network it is
    if whole is not None:  # the best weights fit() left in the shards, gathered (every process is here)
        whole.load_state_dict(sharding.gathered(model.state_dict()))
        model = whole.to(fabric.device)
    test, predictions = evaluate_test(with_tta(model, recipe.eval.tta), task, data, fabric.device,
                                      recipe.train.eval_batch_size, recipe.eval.calibrate, check_training=first,
                                      check_test=bool(recipe.eval.folds), own=recipe.eval.metrics,
                                      conformal=recipe.eval.conformal, by_class=recipe.eval.conformal_by_class)
    baselines = None
    if predictions is not None and main:  # kept for comparisons with other runs on the same test samples
        np.savez_compressed(folder / "test_predictions.npz", **predictions)
        if recipe.eval.baselines:
            fitted = _fitted_baselines(cache, data, recipe.eval.baseline_max_samples, seed,
                                       balanced=getattr(task, "class_weights", None) is not None)
            baselines = score_baselines(fitted, data, predictions["pred"],
                                        loss=task.custom if task.name == "regression" else None,
                                        own=recipe.eval.metrics)
    n_params = sum(p.numel() for p in model.parameters())
    if main and first and recipe.report.interpret and _explainable(task.name, data.spec):
        from .evaluate.interpret import interpret as interpret_model

        # the best weights are in memory: no need to read the checkpoint back
        _write_json(folder / "interpret.json", interpret_model(model, data, task, recipe.report.interpret_samples))
    if main and first and task.name == "classification" and data.spec.kind == "image" and len(data.spec.input_shape) == 3:
        from .data.preview import examples
        from .data.transforms import BatchAugment

        checkpoint.save_arrays(folder / "pictures" / "examples.npz",
                               examples(data, BatchAugment.from_config(recipe.data.augment)))
    pictures = task.pictures(model, data, fabric.device)
    if pictures and main:
        checkpoint.save_arrays(folder / "pictures" / "final.npz", pictures)
    return {
        "seed": seed, "test": test, "data": data.summary,
        **{k: describe[k] for k in ("spec", "normalizer", "task")},
        "fit": {"epochs_run": len(result.history), "best_epoch": result.best_epoch, "stopped_early": result.stopped_early,
                "steps": result.steps, "train_seconds": result.train_seconds, "wall_seconds": time.perf_counter() - t0,
                "cuda_graph": result.graph, "capture_seconds": result.capture_seconds, "backward": result.backward,
                "parameters": n_params, "parameters_per_process": result.parameters_held, "precision": precision,
                "device": device, "loop": recipe.train.loop,
                "processes": fabric.world_size,
                "global_batch_size": recipe.train.batch_size * fabric.world_size * recipe.train.accumulate,
                "strategy": strategy_name(fabric)},
        "history": result.history, **({"baselines": baselines} if baselines else {}),
    }


def _fitted_baselines(cache: Path, data, max_samples: int, seed: int, balanced: bool) -> dict:
    """The baselines fitted on this data: read from `cache` when a run on the same samples fitted them (an
    ablation's variants, a recipe run again with another network: 7 s of the 20 of tp1), fitted and kept
    there otherwise."""
    from .engine.checkpoint import load_arrays, save_arrays
    from .evaluate import baselines

    path = cache / f"baselines-{baselines.fingerprint(data, max_samples, seed, balanced)}.npz"
    if path.is_file():
        try:
            fitted = baselines.from_arrays(load_arrays(path))
        except (OSError, ValueError, KeyError, EOFError):  # a damaged entry is fitted again and replaced
            log.warning("baselines: %s is unreadable; fitting again", path)
        else:
            log.info("baselines: the fit of an earlier run on the same samples, kept in %s", path)
            with contextlib.suppress(OSError):  # a read-only cache still serves
                path.touch()  # used now: the last to be pruned
            return fitted
    fitted = baselines.fit_baselines(data, max_samples, seed, balanced)
    save_arrays(path, baselines.to_arrays(fitted))
    _prune(cache, "baselines-*.npz", CACHE_BYTES)
    return fitted


CACHE_BYTES = 512 * 2**20  # about a thousand baseline fits of tp1's size (0.5 MB each)


def _prune(cache: Path, pattern: str, limit: int) -> None:
    """Remove the entries used longest ago until those left take at most `limit` bytes. Another process
    may prune the same folder at the same time: an entry already gone is skipped; one that cannot be removed
    is left (a full cache costs disk space, never a run)."""
    entries = []
    for p in cache.glob(pattern):
        try:
            st = p.stat()
        except OSError:
            continue
        entries.append((st.st_mtime, st.st_size, p))
    total = 0
    for i, (_, size, p) in enumerate(sorted(entries, key=lambda e: e[0], reverse=True)):
        total += size
        if total > limit and i > 0:  # the newest stays, however large
            try:
                p.unlink(missing_ok=True)
            except OSError:
                continue
            log.info("cache: removed %s, used longest ago (the cache keeps %d MB)", p, limit // 2**20)


def _judge(folder: Path, source: str, overrides: list[str], device: str):
    """A classifier trained with trainlab that judges generated samples: a finished run directory,
    or a recipe trained (once; resumed if interrupted) into this run's judge/ folder.
    Returns (model, task, normalizer, spec)."""
    from .serve.predictor import Predictor

    src = Path(source)
    if not (src / "recipe.toml").is_file():
        if not src.is_file():
            raise TrainlabError(f"task.judge = {source!r} is neither a finished run directory nor a recipe file.")
        runs = sorted((folder / "judge").glob("*/run.json"))
        if runs and _read_json(runs[-1]).get("status") == "finished":
            src = runs[-1].parent
        elif runs:
            src = resume(runs[-1].parent, progress=False).path
        else:
            log.info("training the judge classifier from %s", source)
            src = run(source, overrides, runs_dir=folder / "judge", progress=False).path
    p = Predictor(src, device)
    if p.task.name != "classification":
        raise TrainlabError(f"The judge {str(src)!r} is a {p.task.name} run; it must be a classifier.")
    return p.model, p.task, p.normalizer, p.spec


def audit(recipe: str | Path | Recipe, overrides: list[str] = (), label: str | None = None) -> dict:
    """The data checks of a run without its training (trainlab audit): the recipe's split of its data
    (or of data without a recipe, as `run` takes it), described as a run's report describes it."""
    recipe = _resolved(recipe, overrides, label)
    if recipe.is_rl:
        raise TrainlabError("trainlab audit checks a [data] section; an RL recipe's environment makes its own data.")
    data = _prepare(_load_raw(recipe), recipe, recipe.seed)
    return {**data.summary, "class_names": list(data.spec.class_names)}


def validate_only(recipe: Recipe, folder: Path, on_epoch=None, raw=None) -> dict:
    """Train a recipe and return its validation history, without touching the test split (a sweep
    trial). Checkpoints go to `folder`; `raw`: the dataset as read, when the caller already has it."""
    from .engine.loop import fit
    from .engine.runtime import choose_device

    data = _prepare(raw if raw is not None else _load_raw(recipe), recipe, recipe.seed, checks=False)
    task, model, data, fabric = _trainer(recipe, data, recipe.seed, choose_device(recipe.train.device))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "recipe.toml").write_text(to_toml(recipe.to_dict()))
    result = fit(model, task, data, recipe, folder, fabric, seed=recipe.seed, progress=False,
                 describe={"recipe": recipe.to_dict()}, on_epoch=on_epoch)
    best = next(r for r in result.history if r["epoch"] == result.best_epoch)
    return {"history": result.history, "best_epoch": result.best_epoch, "best": best,
            "train_seconds": result.train_seconds}


def bench(recipe: str | Path | Recipe, overrides: list[str] = (), steps: int = 50) -> list[dict]:
    """The course's speed lab as a command: the recipe's model trained for `steps` steps on every
    device available, with the textbook DataLoader loop and with trainlab's loop. Each measurement
    is the second of two epochs of `steps` steps (the first holds warm-up: allocation, kernels); the
    epoch time is the whole training set's steps at that pace."""
    import tempfile
    from dataclasses import replace

    import numpy as np
    import torch

    from .core.config import apply_overrides
    from .engine.cost import step_cost
    from .engine.loop import fit
    from .engine.runtime import precision_name

    recipe = _resolved(recipe, overrides)
    if recipe.is_rl:
        raise TrainlabError("trainlab bench measures recipes with a [data] section; an RL run reports its own speed.")
    data = _prepare(_load_raw(recipe), recipe, recipe.seed, checks=False)
    rows, flops, n_train = [], 0, None
    for device in ["cpu"] + (["cuda"] if torch.cuda.is_available() else []):
        for loop in ("textbook", "fast"):
            r = parse_recipe(apply_overrides(recipe.to_dict(), [
                f"train.loop={loop}", "train.epochs=2", f"train.max_steps={2 * steps}",
                "train.early_stopping.patience=0", f"train.device={device}"]))
            if r.task.name == "gan":
                raise TrainlabError("trainlab bench does not measure GAN recipes (their judge is trained first).")
            task, model, d, fabric = _trainer(r, data, r.seed, device)
            n_train = n_train or len(d.split.x_train)  # as the task trains on it
            idx = np.arange(steps * r.train.batch_size) % len(d.split.x_train)  # exactly `steps` batches an epoch
            d = replace(d, split=replace(d.split, x_train=d.split.x_train[idx], y_train=d.split.y_train[idx],
                                         x_val=d.split.x_val[:256], y_val=d.split.y_val[:256]))
            flops = flops or step_cost(task, model, d, r.train.batch_size)["flops"]  # the same on every device
            with tempfile.TemporaryDirectory() as tmp:
                res = fit(model, task, d, r, Path(tmp), fabric, seed=r.seed, progress=False)
            seconds = res.history[-1]["time"]
            rows.append({"device": device, "loop": loop + (" + CUDA graph" if res.graph == "captured" else ""),
                         "precision": precision_name(fabric), "steps": steps,
                         "batch_size": r.train.batch_size, "seconds": seconds,
                         "samples_per_second": steps * r.train.batch_size / seconds,
                         # one pass over the whole training set at this step time
                         "epoch_seconds": -(-n_train // r.train.batch_size) * seconds / steps,
                         "flops_per_step": flops, "tflops_per_second": flops * steps / seconds / 1e12})
    for row in rows:
        row["speedup"] = rows[0]["seconds"] / row["seconds"]  # against the textbook loop on the CPU
    return rows


def lr_find(recipe: str | Path | Recipe, overrides: list[str] = (), *, start: float = 1e-7, end: float = 10.0,
            steps: int = 100) -> dict:
    """The learning-rate range test (engine/lr_find.py) of the recipe's model, optimiser and task on
    its training split, from the initial weights a run would start from; the validation and test
    splits are not touched."""
    import torch

    from .engine.lr_find import lr_range_test
    from .engine.optim import OPTIMIZERS
    from .engine.runtime import autocast_without_cache, choose_device, precision_name

    recipe = _resolved(recipe, overrides)
    if recipe.is_rl:
        raise TrainlabError("trainlab lr-find works on supervised recipes (a [data] section).")
    if not 0 < start < end:
        raise TrainlabError(f"lr-find needs 0 < start < end; received start {start:g}, end {end:g}.")
    device = choose_device(recipe.train.device)
    data = _prepare(_load_raw(recipe), recipe, recipe.seed, checks=False)
    task, model, data, fabric = _trainer(recipe, data, recipe.seed, device)
    if task.manual:
        raise TrainlabError(f"lr-find follows one loss; the {task.name} task trains two players with their own steps.")
    entry = OPTIMIZERS.get(recipe.optim.name)
    params = entry.validate(recipe.optim.params, "optim")
    model.to(fabric.device)
    optimizer = task.optimizers(model, lambda ps: entry.build(ps, **params))[0]
    x = torch.as_tensor(data.split.x_train).to(fabric.device)
    y = torch.as_tensor(data.split.y_train).to(fabric.device, task.target_dtype())
    out = lr_range_test(model, task, optimizer, x, y, batch_size=recipe.train.batch_size, start=start, end=end,
                        steps=steps, seed=recipe.seed,
                        autocast=lambda: autocast_without_cache(precision_name(fabric), fabric.device.type))
    return {**out, "recipe_lr": params["lr"], "optimizer": recipe.optim.name, "batch_size": recipe.train.batch_size}


def gradient_check(recipe: str | Path | Recipe, overrides: list[str] = (), coords: int = 200):
    """The recipe's model on two training samples: finite differences vs autograd, and the graph."""
    import torch

    from .evaluate.gradcheck import check_gradients, graph_dot

    recipe = _resolved(recipe, overrides)
    if recipe.is_rl:
        raise TrainlabError("trainlab gradcheck works on supervised recipes (a [data] section).")
    data = _prepare(_load_raw(recipe), recipe, recipe.seed, checks=False)
    task, model = _build(recipe, data, recipe.seed)
    x = torch.as_tensor(data.split.x_train[:2])
    y = torch.as_tensor(data.split.y_train[:2]).to(task.target_dtype())
    return check_gradients(model, task, x, y, coords), graph_dot(model, task, x, y)


def model_shapes(recipe: str | Path | Recipe, overrides: list[str] = ()) -> tuple[list[dict], int]:
    """Each layer's output shape and parameter count for one sample of the recipe's data; for
    convolutions and pooling also the course's d_out = (d_in + 2p − k) / s + 1, checked."""
    import torch
    from torch import nn

    recipe = _resolved(recipe, overrides)
    if recipe.is_rl:
        from .models import build_model
        from .rl.dqn import observation_spec
        from .rl.registry import ENVIRONMENTS

        spec = observation_spec(ENVIRONMENTS.get(recipe.env.name).build(**recipe.env.params))
        model = build_model(recipe.model.name, spec, 4, **recipe.model.params)
    else:
        data = _prepare(_load_raw(recipe), recipe, recipe.seed, checks=False)
        spec, model = data.spec, _build(recipe, data, recipe.seed)[1]
    model.eval()
    rows = []

    def hook(name):
        def record(module, inputs, output):
            row = {"layer": name, "type": type(module).__name__, "output": list(output.shape[1:]),
                   "parameters": sum(p.numel() for p in module.parameters(recurse=False))}
            if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d)):
                pair = lambda v: v if isinstance(v, tuple) else (v, v)  # noqa: E731
                k, s_, p = pair(module.kernel_size)[0], pair(module.stride)[0], pair(module.padding)[0]
                d_in = inputs[0].shape[-1]
                expected = (d_in + 2 * p - k) // s_ + 1
                row["formula"] = f"({d_in} + 2·{p} − {k}) / {s_} + 1 = {expected}"
                row["formula_ok"] = expected == output.shape[-1]
            rows.append(row)
        return record

    for name, m in model.named_modules():
        if not list(m.children()):
            m.register_forward_hook(hook(name))
    with torch.no_grad():
        model(torch.zeros(1, *spec.input_shape))
    return rows, sum(p.numel() for p in model.parameters())


def explain(path: str | Path, samples: int = 8) -> Run:
    """Recompute the interpretation of a finished run and re-render its report."""
    from .data.prepare import prepare_from_recipe
    from .serve.predictor import Predictor

    run_ = load_run(path)
    if not run_.metrics:
        raise CheckpointError(f"Run {str(path)!r} has not finished; explain it once it has.")
    if run_.recipe.is_rl or not _explainable(run_.metrics["task"]["name"], DataSpec.from_dict(run_.metrics["spec"])):
        raise TrainlabError("trainlab explain works on classification runs of images, tables and series.")
    from .evaluate.interpret import interpret

    p = Predictor(run_.path)
    data = prepare_from_recipe(p.recipe, p.meta["seed"])
    _write_json(run_.path / "interpret.json", interpret(p.network, data, p.task, samples))
    from .report.html import write_report

    write_report(run_.path, run_.recipe, run_.metrics, _read_json(run_.path / "run.json").get("env", {}))
    return run_


def _doubted_out_of_fold(results: list[dict], k: int = 12) -> dict:
    """The labels doubted most over all folds of a cross-validation: each fold's test samples are judged by
    the network trained without them, so a sample on this list was not learned first (confident learning's
    out-of-fold probabilities, not the doubt of a network trained on that very label)."""
    rows = [{**r, "fold": i + 1} for i, res in enumerate(results)
            for r in res["test"].get("errors", {}).get("doubtful_test_labels", [])]
    return {"doubtful_labels": sorted(rows, key=lambda r: r["p_label"])[:k],
            "checked": sum(res["data"]["sizes"]["test"] for res in results), "folds": len(results)}


def _summarise(results: list[dict], folds: int = 0) -> dict:
    """The first run's metrics, and with several runs (repeats, or the `folds` of a cross-validation)
    each test metric's mean, std and 95% interval over them."""
    from .evaluate.baselines import compared_on, over_repeats
    from .evaluate.robustness import aggregate

    main = results[0]
    metrics = {k: main[k] for k in ("test", "fit", "data", "spec", "normalizer", "task", "history", "seed")}
    metrics["baselines"] = main.get("baselines")
    if main["test"].get("subgroup_stats"):  # merged over the folds: every sample tested once
        from .evaluate import subgroups

        classes = list(main["spec"]["class_names"]) if main["spec"]["target"] == "class" else None
        stats = subgroups.merge([r["test"]["subgroup_stats"] for r in results]) if folds else main["test"]["subgroup_stats"]
        metrics["subgroups"] = {"by": subgroups.summarise(stats, classes), "folds": folds,
                                "first_of": 0 if folds else len(results)}
    if len(results) > 1:
        metrics["repeats"] = {"seeds": [r["seed"] for r in results], "test": aggregate([r["test"] for r in results]),
                              "best_epochs": [r["fit"]["best_epoch"] for r in results], "folds": folds}
        if folds and main["test"].get("errors", {}).get("doubtful_test_labels") is not None:
            metrics["out_of_fold"] = _doubted_out_of_fold(results)
        if main.get("baselines"):
            key = compared_on(main["baselines"], main["spec"]["target"])
            network = [r["test"][key] for r in results]
            metrics["repeats"]["baselines"] = rep = {}
            for name in main["baselines"]["models"]:
                rep[name] = aggregate([r["baselines"]["models"][name] for r in results])
                rep[name]["paired"] = over_repeats(network, [r["baselines"]["models"][name][key] for r in results])
    return metrics
