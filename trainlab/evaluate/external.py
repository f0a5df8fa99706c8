"""An external test set: a finished run's best model scored on labelled data from elsewhere (another
hospital, a later year, another lab's images), read as the run read its own data and preprocessed
with the run's stored statistics. A random test split measures the model on more of the same; an
external set measures whether it carries over, the test a reviewer asks for. Its score comes with its
bootstrap interval beside the run's own test score, a test of whether the two differ beyond chance,
and whether the external inputs and classes differ from the data the run learned from (data/shift.py)."""
from __future__ import annotations

import json
import math
import re
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
    naming its column and value; a category the external table lacks is a column of zeros."""
    have = {n: j for j, n in enumerate(raw.feature_names)}
    x_in = _both(raw.x, raw.x_test)
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


def _both(x: np.ndarray, x_test: np.ndarray | None) -> np.ndarray:
    """A dataset's samples and its official test samples, when it has them: all external samples alike."""
    return x if x_test is None else np.concatenate([x, x_test])


def _inputs(raw, p, path: Path) -> np.ndarray:
    if p.spec.kind == "table":
        return _table_inputs(raw, p.spec, path)
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


def _scores(p, x: np.ndarray, y: np.ndarray, batch_size: int, out=None) -> tuple[dict, dict]:
    """(the task's test metrics of the external samples with their bootstrap intervals, the class counts);
    `out`: the network's outputs for `x`, when they were computed already."""
    import torch

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
        return {**got, "bootstrap": bootstrap(y.reshape(len(y), -1), pred)}, {}
    got = p.task.test_metrics(out, torch.as_tensor(y))
    got["bootstrap"] = bootstrap(y, p.task.predict(out).numpy(), p.spec.num_classes)
    counts = np.bincount(y, minlength=p.spec.num_classes).tolist()
    return got, {"counts": dict(zip(map(str, p.spec.class_names), counts))}


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
    swapped; `overrides` as --set; `label`: the label column of a table). Written to
    RUN/external/NAME.json (NAME: the data's file or folder name); the run's report shows it."""
    from ..core.config import load_recipe
    from ..data.prepare import load_raw
    from ..data import shift
    from ..report import headline_keys, lower_is_better
    from ..serve.predictor import Predictor

    run_dir, path = Path(run_dir), Path(path).resolve()
    if not path.exists():
        raise DataError(f"{str(path)!r} does not exist: name a table, or a folder of images or of the run's files.")
    p = Predictor(run_dir)
    if not (p.task.supervised or p.task.name == "segmentation"):
        raise TrainlabError(f"evaluate scores classifiers, regressions and segmentations on new labelled data; this "
                            f"run's task is {p.task.name!r}." + (
                                f" trainlab predict {run_dir} {path} scores how unusual each input is for the model, "
                                "and whether they are more unusual than the run's test samples." if p.task.surprise_name
                                else ""))
    metrics = p.metrics
    if not metrics.get("test"):
        raise TrainlabError(f"Run {str(run_dir)!r} has no test results yet; evaluate a finished run.")
    run_recipe = load_recipe(run_dir / "recipe.toml")
    raw = _read(run_recipe, p.spec, path, label, list(overrides))
    x, y = _inputs(raw, p, path), _labels(raw, p.spec, path)
    samples = x if p.tokenizer is None else _both(raw.x, raw.x_test)  # as the run's data holds them: texts, not ids
    own, own_boot = metrics["test"], metrics["test"].get("bootstrap") or {}
    out = None
    if p.spec.target != "mask":  # the network on every sample once (the copies left out below: a part of it)
        import torch

        out = torch.as_tensor(p.forward(p.preprocess(x), batch_size))
    got, classes = _scores(p, x, y, batch_size, out)
    if p.spec.target == "mask":  # intervals over the images, the run's own test images too
        from ..tasks.segmentation import image_bootstrap

        own_boot = image_bootstrap(own["per_image"])

    def rows(got: dict) -> list[dict]:  # each headline metric beside the run's, and whether they differ
        return [{"metric": k, "lower_is_better": lower_is_better(k, metrics), "run": own[k],
                 "run_interval": own_boot.get(k), "external": float(got[k]), "external_interval": got["bootstrap"].get(k),
                 "test": _difference(own[k], own_boot.get(k), float(got[k]), got["bootstrap"].get(k))}
                for k in headline_keys(metrics) if k in got and k in own and isinstance(got[k], (int, float))]

    result = {"path": str(path), "samples": int(len(y)), "source": raw.source, "rows": rows(got), "metrics": got,
              "run_test_samples": ((metrics.get("data") or {}).get("sizes") or {}).get("test"), **classes}
    try:  # the data the run read: do the external inputs differ from it? are some of them its own samples?
        mine = load_raw(run_recipe.data.name, run_recipe.data.params)
    except DataError as err:
        result["shift"] = {"unavailable": str(err)}
    else:
        copied = _copies(mine, samples)
        result["copies"] = int(copied.sum())
        if 0 < copied.sum() < len(y) and out is not None:  # the clean external test: the others alone
            result["without_copies"] = {"samples": int((~copied).sum()), "rows": rows(
                _scores(p, x[~copied], y[~copied], batch_size, out[torch.as_tensor(~copied)])[0])}
        if p.spec.kind == "text":
            result["shift"] = shift.check(mine.x, samples, "text", "external")
        elif p.spec.kind in ("image", "table") and mine.x.shape[1:] == x.shape[1:]:
            result["shift"] = shift.check(mine.x, x, p.spec.kind, "external", p.spec.feature_names)
        if p.spec.target == "class" and len(mine.class_names) == p.spec.num_classes:
            result.setdefault("shift", {"why": "external"})["classes"] = shift.classes(mine.y, y, p.spec.class_names)
        if p.spec.target == "real":
            result.setdefault("shift", {"why": "external"})["targets"] = shift.targets(mine.y, y)
    name = re.sub(r"[^\w.-]+", "_", name or path.stem or path.name)  # a file name in RUN/external/
    folder = run_dir / "external"
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(result, indent=1, default=float))
    result["name"] = name
    return result
