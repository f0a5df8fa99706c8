"""An external test set: a finished run's best model scored on labelled data from elsewhere (another
hospital, a later year, another lab's images), read as the run read its own data and preprocessed
with the run's stored statistics. A random test split measures the model on more of the same; an
external set measures whether it carries over, the test a reviewer asks for. Its score comes with its
bootstrap interval beside the run's own test score, a test of whether the two differ beyond chance,
and whether the external inputs and classes differ from the data the run learned from (data/shift.py).
A model that says how unusual an input is (an autoencoder's reconstruction error, a flow's NLL) is
scored on data with or without labels: where its scores fall among the run's test samples', and with
classes held out as anomalies, how well it finds them there."""
from __future__ import annotations

import json
import math
import re
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..core.errors import DataError, TrainlabError


def _readers(run_recipe, spec, path: Path, label: str | None) -> list[dict]:
    """The [data] sections that may read `path` as the run read its data, to try in turn: the run's
    dataset with its path swapped; then, for images, a folder of class sub-folders at the run's size;
    for a dataset with no files (scikit-learn's), a table."""
    from ..core.config import DataConfig
    from ..data.datasets import DATASETS

    data = dict(run_recipe.to_dict()["data"])
    kept = {k: v for k, v in data.items() if k in DataConfig.model_fields}  # not the dataset's own parameters
    if label:
        data["label"] = label
    if data["name"] == "table":  # the run's input columns, whatever else the table holds (ids, dates)
        data["features"] = list(spec.input_columns)
    out = []
    if "path" in DATASETS.get(data["name"]).params.model_fields:
        out.append({**data, "path": str(path)})
    if spec.target == "mask":  # images and their masks: S-BSST265's layout, or images/ and masks/
        out += [{**kept, "name": n, "path": str(path)} for n in ("sbsst265", "segmentation_folder")
                if n != data["name"]]
    elif spec.kind == "image" and path.is_dir() and data["name"] != "image_folder":
        out.append({**kept, "name": "image_folder", "path": str(path),
                    "size": int(spec.input_shape[-1]), "channels": int(spec.input_shape[0])})
    if spec.kind == "table" and not out:
        if not label:
            raise DataError(f"{str(path)!r}: which column holds the labels? Say it with --label.")
        out.append({**kept, "name": "table", "path": str(path),
                    "label": label, "features": list(spec.input_columns)})
    if not out:
        raise DataError(f"The run read dataset {data['name']!r}, which has no files to swap for {str(path)!r}.")
    return out


def _read(run_recipe, spec, path: Path, label: str | None, overrides: list[str]):
    """The external data as RawData, read by the first of `_readers` that can (its error otherwise)."""
    from ..core.config import parse_recipe
    from ..data.prepare import load_raw
    from ..procedure import _resolved

    first = None
    for data in _readers(run_recipe, spec, path, label):
        try:
            recipe = _resolved(parse_recipe({**run_recipe.to_dict(), "data": data}), overrides)
            return load_raw(recipe.data.name, recipe.data.params)
        except TrainlabError as err:
            first = first or err
    raise DataError(f"{str(path)!r} cannot be read as the run read its data: {first}")


def _table_inputs(raw, spec, path: Path) -> np.ndarray:
    """The external table's one-hot columns in the run's order: a category training never saw is an error
    naming its column and value; a category the external table lacks is a column of zeros. Series read from
    a table (N, T, F) alike, each step a row, their padding kept."""
    have = {n: j for j, n in enumerate(raw.feature_names)}
    x_in = _both(raw.x, raw.x_test)
    if x_in.ndim == 3:
        pad = np.isnan(x_in).all(-1)
        x = _table_inputs(replace(raw, x=x_in.reshape(-1, x_in.shape[-1]), x_test=None), spec, path)
        x = x.reshape(*x_in.shape[:2], -1)
        x[pad] = np.nan
        return x
    cats = dict(spec.categories)
    for n in have:
        if n not in spec.feature_names:
            column, _, value = n.partition("=")
            rows = int((x_in[:, have[n]] > 0).sum())
            if column in cats:
                raise DataError(f"{str(path)!r} column {column!r}: {value!r} ({rows} row{'s' * (rows != 1)}) is not "
                                f"one of the categories seen in training ({', '.join(map(repr, cats[column]))}).")
            raise DataError(f"{str(path)!r} has column {n!r}, which the run did not learn from (its inputs: "
                            f"{', '.join(spec.input_columns)}); leave it out with --set data.features=[...].")
    x = np.zeros((len(x_in), len(spec.feature_names)), np.float32)
    for j, n in enumerate(spec.feature_names):
        if n in have:
            x[:, j] = x_in[:, have[n]]
        elif n.partition("=")[0] not in cats:
            raise DataError(f"{str(path)!r} has no column {n!r}, an input of the run.")
    return x


def _labels(raw, spec, path: Path) -> np.ndarray:
    """The external labels as the run's class indices (matched by name), or its values."""
    y = _both(raw.y, raw.y_test)
    if spec.target == "mask":
        return y
    if spec.target != "class":
        return y.astype(np.float32)
    index = {_key(c): i for i, c in enumerate(spec.class_names)}  # "T-shirt/top" is the folder T-shirt_top
    names = [str(c) for c in raw.class_names]
    unknown = [c for c in names if _key(c) not in index and (y == names.index(c)).any()]
    if unknown:
        n = int((y == names.index(unknown[0])).sum())
        raise DataError(f"{str(path)!r}: class {unknown[0]!r} ({n} sample{'s' * (n != 1)}) is "
                        f"not one the run was trained on ({', '.join(map(repr, spec.class_names))}).")
    return np.array([index.get(_key(c), -1) for c in names], np.int64)[y]


def _key(name) -> str:
    """A class name as matched: lower case, letters and digits only."""
    return re.sub(r"[^0-9a-z]", "", str(name).lower())


def _groups(raw, spec) -> np.ndarray | None:
    """The external samples' group ids (the recordings their windows were cut from, a patient's images),
    None when they have none or no group holds two samples: each sample is then a unit of its own."""
    if spec.target == "mask" or raw.groups is None or raw.x_test is not None and raw.groups_test is None:
        return None
    ids = _both(raw.groups, raw.groups_test)
    return ids if np.unique(ids, return_counts=True)[1].max() > 1 else None


def _both(x: np.ndarray, x_test: np.ndarray | None) -> np.ndarray:
    """A dataset's samples and its official test samples, when it has them: all external samples alike."""
    return x if x_test is None else np.concatenate([x, x_test])


def _inputs(raw, p, path: Path) -> np.ndarray:
    if p.spec.kind == "table":
        return _table_inputs(raw, p.spec, path)
    if p.spec.kind == "series" and p.spec.categories:  # series from a table: their one-hot columns too
        return p.check_array(_table_inputs(raw, p.spec, path), str(path))
    x = _both(raw.x, raw.x_test)
    if p.tokenizer is not None:
        return p.texts_to_array(list(x), str(path))
    if p.spec.target == "mask":  # a segmentation network takes images of any size (its reader checked them)
        return x.astype(np.float32)
    return p.check_array(x, str(path))


def _copies(mine, external: np.ndarray) -> np.ndarray:
    """Which external samples are exact copies of a sample the run read (training, validation or test: the
    model saw it, or was chosen or scored on it), as a mask."""
    from ..data.split import sample_hashes

    if mine.x.shape[1:] != external.shape[1:]:
        return np.zeros(len(external), bool)
    same = np.ones(len(external), bool)
    if external.dtype != mine.x.dtype:  # compared in the run's type (uint8 pixels): a value that does not
        back = external.astype(mine.x.dtype)  # survive the cast is no copy
        same = (back == external).reshape(len(external), -1).all(1)
        external = back
    seen = {h for part in (mine.x, mine.x_test) if part is not None for h in sample_hashes(part)}
    return np.array([ok and h in seen for h, ok in zip(sample_hashes(external), same)], bool)


def _scores(p, x: np.ndarray, y: np.ndarray, batch_size: int, out=None, groups=None) -> tuple[dict, dict]:
    """(the task's test metrics of the external samples with their bootstrap intervals, the class counts);
    `out`: the network's outputs for `x`, when they were computed already. `groups` (each sample's, when
    some hold several: windows of one recording): the bootstrap resamples whole groups, and the metrics are
    also given per group ("by_group"), as the run's own test set's are."""
    import torch

    from .grouped import by_group
    from .robustness import bootstrap

    if p.spec.target == "mask":  # at the run's threshold, as predict segments; intervals over the images
        from ..tasks.segmentation import image_bootstrap

        got = p.task.test(p.model, torch.as_tensor(p.preprocess(x)), torch.as_tensor(y[:, None], dtype=torch.float32),
                          batch_size, choose=False)
        return {**got, "bootstrap": image_bootstrap(got["per_image"])}, {}
    if out is None:
        out = torch.as_tensor(p.forward(p.preprocess(x), batch_size))
    if p.spec.target == "real":
        got = p.task.test_metrics(out, torch.as_tensor(p.normalizer.apply_target(y)))
        pred = p.task.predict(out).numpy().reshape(len(y), -1)
        per = {} if groups is None else {"by_group": by_group(groups, y.reshape(len(y), -1), pred)}
        return {**got, "bootstrap": bootstrap(y.reshape(len(y), -1), pred, groups=groups), **per}, {}
    got = p.task.test_metrics(out, torch.as_tensor(y))
    got["bootstrap"] = bootstrap(y, p.task.predict(out).numpy(), p.spec.num_classes, groups=groups)
    if groups is not None:
        got["by_group"] = by_group(groups, y, p.task.probabilities(out).numpy(), p.spec.num_classes)
    counts = np.bincount(y, minlength=p.spec.num_classes).tolist()
    return got, {"counts": dict(zip(map(str, p.spec.class_names), counts))}


def _read_unlabelled(p, run_recipe, path: Path, label: str | None, overrides: list[str]):
    """An autoencoder's or a flow's external data → (the inputs, each sample's class name or None): read as
    the run read its data when it can be (with the classes of a class folder, an IDX folder, a --label
    column), or as predict reads inputs (a CSV without labels, a folder of images)."""
    try:
        raw = _read(run_recipe, p.spec, path, label, overrides)
    except DataError:
        if label:
            raise
        return p.read_files([str(path)])[0], None
    y = _both(raw.y, raw.y_test)
    named = len(raw.class_names) and y.dtype.kind in "iu"
    return _inputs(raw, p, path), np.asarray(list(map(str, raw.class_names)))[y] if named else None


def _unusual(p, scores: np.ndarray, classes: np.ndarray | None) -> dict:
    """Where the external inputs' scores (how unusual each is for the model: `p.task.surprise`) fall among the
    run's test samples' (from their stored percentiles): {"score": its name, "surprise": each input's
    percentile summarised, the share above the UNUSUAL-th (binomial test against the share expected), a
    Kolmogorov-Smirnov test of the percentiles against the uniform ones inputs like the test samples get,
    with the two-sample p-value of the run's test size; "by_class": the same per class (`classes`: each
    sample's class name); "rows": a flow's mean NLL beside the run's; with held-out classes, the ROC AUC
    with which the score finds them (and classes the run never saw) beside the run's}."""
    from scipy import stats

    from ..tasks.base import UNUSUAL, percentile_rank, unusual
    from .robustness import auc_interval

    test = p.metrics["test"]
    sizes = (p.metrics.get("data") or {}).get("sizes") or {}
    n_run = int(test.get("surprise_samples") or sizes.get("test") or 0)
    rank = percentile_rank(scores, test["surprise_percentiles"])
    d = float(stats.kstest(rank / 100, "uniform").statistic) if len(rank) else 0.0
    n_eff = max(1, round(len(rank) * n_run / (len(rank) + n_run))) if n_run else len(rank)

    def summary(r: np.ndarray) -> dict:
        odd, p_value = unusual(r)
        return {"samples": len(r), "mean_percentile": float(r.mean()), "median_percentile": float(np.median(r)),
                "unusual": int(odd.sum()), "unusual_share": float(odd.mean()), "unusual_p_value": p_value}

    out = {"score": p.task.surprise_name, "surprise": {
        **summary(rank), "unusual_at": UNUSUAL, "unusual_above": float(test["surprise_percentiles"][UNUSUAL]),
        "expected_share": 1 - UNUSUAL / 100, "ks": d, "ks_p_value": float(stats.kstwo.sf(d, n_eff)),
        "run_samples": n_run, "mean_score": float(scores.mean())}, "rows": []}
    if classes is not None:
        out["by_class"] = {c: summary(rank[classes == c]) for c in sorted(set(classes.tolist()),
                                                                         key=lambda c: -rank[classes == c].mean())}
    if p.task.name == "density" and len(scores) > 1:  # the mean NLL beside the test's, with normal intervals; not
        se = float(scores.std(ddof=1) / math.sqrt(len(scores)))  # tested: a few far inputs move it, the ranks above
        own, ext = (test["nll"], test["nll_se"]), (float(scores.mean()), se)  # do not
        ci = [[m - 1.96 * s, m + 1.96 * s] for m, s in (own, ext)]
        out["rows"].append({"metric": "nll", "lower_is_better": True, "run": own[0], "run_interval": ci[0],
                            "external": ext[0], "external_interval": ci[1], "test": None})
    held = set((test.get("anomaly") or {}).get("held_out") or [])
    if held:
        out["held_out"] = sorted(held)
    if held and classes is not None:
        from sklearn.metrics import average_precision_score, roc_auc_score

        known, gone = {_key(c) for c in p.spec.class_names}, {_key(c) for c in held}  # T-shirt_top is T-shirt/top
        odd = np.array([_key(c) in gone or _key(c) not in known for c in classes.tolist()])
        out["anomalous"] = {"classes": sorted(set(classes[odd].tolist())), "share": float(odd.mean())}
        if 0 < odd.sum() < len(odd):
            own_ci = (test.get("bootstrap") or {}).get("roc_auc")
            auc, ci = float(roc_auc_score(odd, scores)), auc_interval(odd, scores)
            out["rows"] += [{"metric": "roc_auc", "lower_is_better": False, "run": test["roc_auc"], "run_interval": own_ci,
                             "external": auc, "external_interval": ci, "test": _difference(test["roc_auc"], own_ci, auc, ci)},
                            {"metric": "pr_auc", "lower_is_better": False, "run": test["pr_auc"], "run_interval": None,
                             "external": float(average_precision_score(odd, scores)), "external_interval": None,
                             "test": None}]
    return out


def _difference(own: float, own_ci, ext: float, ext_ci) -> dict | None:
    """Whether two independent scores differ beyond chance: a z test with each one's standard error read
    from its 95% bootstrap interval (its width / 3.92)."""
    if not own_ci or not ext_ci or not all(map(math.isfinite, [*own_ci, *ext_ci])):
        return None
    from scipy import stats

    se = math.hypot((own_ci[1] - own_ci[0]) / 3.92, (ext_ci[1] - ext_ci[0]) / 3.92)
    z = (ext - own) / se if se > 0 else 0.0
    return {"difference": ext - own, "z": z, "p_value": float(2 * stats.norm.sf(abs(z)))}


def evaluate_external(run_dir: str | Path, path: str | Path, label: str | None = None, overrides: list[str] = (),
                      name: str | None = None, batch_size: int = 1024) -> dict:
    """Score the run's best model on the labelled data at `path` (read with the run's dataset, its path
    swapped; `overrides` as --set; `label`: the label column of a table); an autoencoder's or a flow's on
    data with or without labels (_unusual). Written to RUN/external/NAME.json (NAME: the data's file or
    folder name); the run's report shows it."""
    from ..core.config import load_recipe
    from ..report import headline_keys, lower_is_better
    from ..report.methods import group_words
    from ..serve.predictor import Predictor

    run_dir, path = Path(run_dir), Path(path).resolve()
    if not path.exists():
        raise DataError(f"{str(path)!r} does not exist: name a table, or a folder of images or of the run's files.")
    import torch

    p = Predictor(run_dir)
    if not (p.task.supervised or p.task.name == "segmentation" or p.task.surprise_name):
        raise TrainlabError(f"evaluate scores classifiers, regressions, segmentations, and the models that say how "
                            f"unusual an input is (autoencoders, VAEs, flows) on new data; this run's task is "
                            f"{p.task.name!r}.")
    metrics = p.metrics
    if not metrics.get("test"):
        raise TrainlabError(f"Run {str(run_dir)!r} has no test results yet; evaluate a finished run.")
    if p.task.surprise_name and not metrics["test"].get("surprise_percentiles"):
        raise TrainlabError(f"Run {str(run_dir)!r} keeps no test scores to compare new inputs with (an older trainlab "
                            f"wrote it); trainlab run {run_dir / 'recipe.toml'} trains it again with them.")
    run_recipe = load_recipe(run_dir / "recipe.toml")
    if p.task.surprise_name:  # how unusual the inputs are for the model: no labels needed
        x, names = _read_unlabelled(p, run_recipe, path, label, list(overrides))
        scores = p.task.surprise(p.model, torch.as_tensor(p.preprocess(x), device=p.device), batch_size)
        result = {"path": str(path), "samples": len(x), "source": str(path), **_unusual(p, scores, names)}
        result["run_test_samples"] = result["surprise"]["run_samples"]
        part = lambda keep: _unusual(p, scores[keep], None if names is None else names[keep])  # noqa: E731
        _external_data(p, run_recipe, result, x, x, None, part)
        return _written(run_dir, path, name, result)
    raw = _read(run_recipe, p.spec, path, label, list(overrides))
    x, y = _inputs(raw, p, path), _labels(raw, p.spec, path)
    groups = _groups(raw, p.spec)
    samples = x if p.tokenizer is None else _both(raw.x, raw.x_test)  # as the run's data holds them: texts, not ids
    own, own_boot = metrics["test"], metrics["test"].get("bootstrap") or {}
    out = None
    if p.spec.target != "mask":  # the network on every sample once (the copies left out below: a part of it)
        out = torch.as_tensor(p.forward(p.preprocess(x), batch_size))
    got, classes = _scores(p, x, y, batch_size, out, groups)
    if p.spec.target == "mask":  # intervals over the images, the run's own test images too
        from ..tasks.segmentation import image_bootstrap

        own_boot = image_bootstrap(own["per_image"])

    def rows(got: dict) -> list[dict]:  # each headline metric beside the run's, and whether they differ
        return [{"metric": k, "lower_is_better": lower_is_better(k, metrics), "run": own[k],
                 "run_interval": own_boot.get(k), "external": float(got[k]), "external_interval": got["bootstrap"].get(k),
                 "test": _difference(own[k], own_boot.get(k), float(got[k]), got["bootstrap"].get(k))}
                for k in headline_keys(metrics) if k in got and k in own and isinstance(got[k], (int, float))]

    result = {"path": str(path), "samples": int(len(y)), "source": raw.source, "rows": rows(got), "metrics": got,
              "run_test_samples": ((metrics.get("data") or {}).get("sizes") or {}).get("test"), **classes,
              **({"groups": int(len(np.unique(groups))), "group_words": group_words(run_recipe.data.params)}
                 if groups is not None else {})}
    part = None if out is None else lambda keep: {"rows": rows(  # noqa: E731
        _scores(p, x[keep], y[keep], batch_size, out[torch.as_tensor(keep)], None if groups is None else groups[keep])[0])}
    _external_data(p, run_recipe, result, x, samples, y, part, groups)
    return _written(run_dir, path, name, result)


def _external_data(p, run_recipe, result: dict, x: np.ndarray, samples, y: np.ndarray | None, part,
                   groups=None) -> None:
    """Into `result`: do the external inputs differ from the data the run read ("shift"), are some of them its
    own samples ("copies"), and the external test without those ("without_copies": `part`(kept samples),
    the result's scores of a part of the samples; None when there is none). `groups`: the external samples',
    when the run's data had groups too: the shift checks then compare groups, as the run's own did."""
    from ..data import shift
    from ..data.prepare import load_raw
    from ..data.split import samples_read

    try:
        mine = load_raw(run_recipe.data.name, run_recipe.data.params)
    except DataError as err:
        result["shift"] = {"unavailable": str(err)}
        return
    repeats = p.metrics.get("repeats") or {}
    seeds = [run_recipe.seed] if repeats.get("folds") else repeats.get("seeds") or [run_recipe.seed]
    mine = samples_read(mine, run_recipe.data.limit, seeds, run_recipe.data.stratify)  # what the run read of it
    copied = _copies(mine, samples)
    result["copies"] = int(copied.sum())
    if 0 < copied.sum() < len(copied) and part is not None:  # the clean external test: the others alone
        result["without_copies"] = {"samples": int((~copied).sum()), **part(~copied)}
    units = None if groups is None or mine.groups is None else (mine.groups, groups)
    if p.spec.kind == "text":
        result["shift"] = shift.check(mine.x, samples, "text", "external", groups=units)
    elif p.spec.kind in ("image", "table", "series") and mine.x.shape[1:] == x.shape[1:]:
        result["shift"] = shift.check(mine.x, x, p.spec.kind, "external", p.spec.feature_names, groups=units)
    if y is None:  # an autoencoder's or a flow's inputs, scored without their labels
        return
    if p.spec.target == "class" and len(mine.class_names) == p.spec.num_classes:
        result.setdefault("shift", {"why": "external"})["classes"] = shift.classes(mine.y, y, p.spec.class_names,
                                                                                   units)
    if p.spec.target == "real":
        result.setdefault("shift", {"why": "external"})["targets"] = shift.targets(mine.y, y)


def _written(run_dir: Path, path: Path, name: str | None, result: dict) -> dict:
    """`result` kept as RUN/external/NAME.json, NAME (`name`, or the data's file or folder name) added to it."""
    name = re.sub(r"[^\w.-]+", "_", name or path.stem or path.name)  # a file name in RUN/external/
    folder = run_dir / "external"
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(result, indent=1, default=float))
    result["name"] = name
    return result
