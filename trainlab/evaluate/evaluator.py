"""The test split is touched once, after training, by the best checkpoint. Besides the task's
metrics it records calibration (classifiers), the errors worth looking at, and the training labels
the trained network doubts most."""
from __future__ import annotations

import time

import numpy as np
import torch

from ..tasks.base import infer
from . import metrics as user_metrics
from . import subgroups
from .grouped import by_group, headline
from .calibration import fit_temperature, reliability
from .conformal import fit_classes, fit_values
from .errors import classification_errors, doubtful_labels, regression_residuals
from .robustness import bootstrap

TRAIN_CHECKED = 10_000  # training samples checked for doubtful labels or poor fits: one inference pass at most this long


def evaluate_test(model, task, data, device, batch_size: int, calibrate: bool = False, check_training: bool = True,
                  check_test: bool = False, own=(), conformal: float = 0.0, by_class: bool = False):
    """The test metrics, and the predictions they score: {"true", "pred"} (and "groups", when known),
    classes or values in the target's units (None for a task that measures itself), for comparisons on
    the same samples.
    `check_training`: also list the training labels doubted, or targets fitted worst (the report
    shows the first split's; further repeats skip the extra inference pass). `check_test`: also the
    test labels doubted most, with their rows in the data (a cross-validation merges its folds'). `own`:
    the recipe's eval.metrics, metrics of the user's scored with the task's (evaluate/metrics.py).
    `conformal`: the coverage of prediction intervals or sets (conformal.py; `by_class`: a threshold per class).
    It and the temperature are fitted on the calibration split when the data has one (data.calibration_fraction),
    else on the validation split."""
    s = data.split
    x = torch.as_tensor(s.x_test).to(device)
    y = torch.as_tensor(s.y_test).to(device, task.target_dtype())
    t0 = time.perf_counter()
    if not task.supervised:  # reconstruction, generation, density: the task measures itself
        return {**task.test(model, x, y, batch_size), "inference_seconds": time.perf_counter() - t0}, None
    out = infer(model, x, batch_size)
    seconds = time.perf_counter() - t0
    chosen = getattr(task, "threshold_by", None)
    # the outputs on the split each fit reads, once: the binary threshold is chosen with the epoch, on the
    # validation split; the temperature and the conformal fit on the calibration split when there is one
    fitted = conformal or (calibrate and data.spec.target == "class")
    apart = s.x_cal is not None and fitted
    val_out = infer(model, torch.as_tensor(s.x_val).to(device), batch_size) if chosen or (fitted and not apart) else None
    cal_out, y_cal = (infer(model, torch.as_tensor(s.x_cal).to(device), batch_size), s.y_cal) if apart \
        else (val_out, s.y_val)
    if chosen:  # chosen on the validation split before the test is read
        task.threshold = task.choose_threshold(val_out, torch.as_tensor(s.y_val))
    metrics = task.test_metrics(out, y)
    if getattr(task, "binary", False):
        metrics["threshold"], metrics["threshold_by"] = task.threshold, chosen or "recipe"
    metrics["inference_seconds"] = seconds
    y_np, pred, true = s.y_test, None, s.y_test
    groups = s.groups[2] if s.groups is not None else None  # the test samples' groups (None: none, or not known)
    fns = user_metrics.bound(own)
    if own:
        metrics["user_metrics"] = user_metrics.about(own)
    if data.spec.target == "class":
        probs = task.probabilities(out).cpu().numpy()
        metrics["calibration"] = reliability(probs, y_np)
        if calibrate:
            t = fit_temperature(task.class_logits(cal_out).cpu(), torch.as_tensor(y_cal))
            scaled = torch.softmax(task.class_logits(out).cpu() / t, 1).numpy()
            metrics["calibration"]["temperature"] = t
            metrics["calibration"]["scaled"] = reliability(scaled, y_np)
        pred = task.predict(out).cpu().numpy()
        if conformal:  # (its coverage and size also as scalars: --repeats gives their mean ± std)
            metrics["conformal"] = c = fit_classes(task.probabilities(cal_out).cpu().numpy(), y_cal, probs, y_np,
                                                   conformal, "calibration" if apart else "validation", by_class)
            if not c.get("too_few"):
                metrics["conformal_coverage"], metrics["conformal_set_size"] = c["test_coverage"], c["mean_set_size"]
        if data.subgroups:
            metrics["subgroup_stats"] = subgroups.statistics(data.subgroups, y_np, pred, data.spec.num_classes)
        metrics.update(user_metrics.compute(fns, y_np, pred, probs))
        metrics["bootstrap"] = bootstrap(y_np, pred, data.spec.num_classes,
                                         extra=user_metrics.resampled(fns, y_np, pred, probs), groups=groups)
        _per_group(metrics, groups, y_np, probs, data.spec.num_classes)
        errors = classification_errors(probs, y_np, list(data.spec.class_names), pred)
        _attach_samples(data, errors["most_confident_wrong"])
        if check_test:  # merged over the folds, every sample's label judged by a network that never saw it
            errors["doubtful_test_labels"] = doubtful_labels(probs, y_np, list(data.spec.class_names))
            _attach_samples(data, errors["doubtful_test_labels"])
            for r in errors["doubtful_test_labels"]:
                r["sample"] = int(s.test_index[r["index"]])
        if check_training:  # the training labels the trained network doubts most
            pick, train_out = _on_training(model, s.x_train, device, batch_size)
            doubtful = doubtful_labels(task.probabilities(train_out).cpu().numpy(), s.y_train[pick],
                                       list(data.spec.class_names))
            _attach_training(data, doubtful, pick)
            errors.update(doubtful_training_labels=doubtful, training_checked=len(pick))
        metrics["errors"] = errors
    elif data.spec.target == "real":
        each_pred, each_true = _in_units(task, out, y_np)  # (N, T): every target
        pred, true = (each_pred[:, 0], each_true[:, 0]) if each_true.shape[1] == 1 else (each_pred, each_true)
        metrics["residuals"] = regression_residuals(pred, true)
        if conformal:  # every target, each its own interval
            pred_cal, true_cal = _in_units(task, cal_out, y_cal)
            metrics["conformal"] = c = fit_values(true_cal, pred_cal, each_true, each_pred, conformal,
                                                  "calibration" if apart else "validation")
            if not c.get("too_few"):
                metrics["conformal_coverage"], metrics["conformal_width"] = c["test_coverage"], c["mean_width"]
        if data.subgroups:
            metrics["subgroup_stats"] = subgroups.statistics(data.subgroups, true, pred, 0)
        metrics.update(user_metrics.compute(fns, true, pred, None))  # (N,) for one target, (N, T) for several
        # intervals of the headline metrics, over every target
        metrics["bootstrap"] = bootstrap(each_true, each_pred, extra=user_metrics.resampled(fns, true, pred, None),
                                         groups=groups)
        _per_group(metrics, groups, each_true, each_pred)
        _attach_samples(data, metrics["residuals"]["largest"])
        if check_training:  # the training samples the trained network fits worst: outliers, or wrong targets
            pick, train_out = _on_training(model, s.x_train, device, batch_size)
            fit = regression_residuals(*_in_units(task, train_out, s.y_train[pick]))
            _attach_training(data, fit["largest"], pick)
            metrics["residuals"].update(training_largest=fit["largest"], training_checked=len(pick))
    kept = {} if groups is None else {"groups": groups}  # a paired test between runs then flips whole groups
    return metrics, (None if pred is None else {"true": true, "pred": pred, **kept})


def _per_group(metrics: dict, groups, true: np.ndarray, scores: np.ndarray, num_classes: int = 0) -> None:
    """The test metrics per group (grouped.py), when the test samples have groups of several samples; its
    first three also as scalars (group_accuracy, ...), which repeats summarise."""
    got = None if groups is None else by_group(groups, true, scores, num_classes)
    if got is None:
        return
    metrics["by_group"] = got
    metrics.update({f"group_{k}": v for k, v in (headline(got, num_classes) or {}).items()})


def _in_units(task, out, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A regression's (predictions, targets) in the target's units, (N, T) of every target."""
    return task.predict(out).cpu().numpy().reshape(len(y), -1), \
        task.to_units(torch.as_tensor(y)).numpy().reshape(len(y), -1)


def _on_training(model, x_train: np.ndarray, device, batch_size: int):
    """(indices, outputs) of the model on at most TRAIN_CHECKED training samples drawn at random."""
    pick = np.arange(len(x_train)) if len(x_train) <= TRAIN_CHECKED else \
        np.sort(np.random.default_rng(0).choice(len(x_train), TRAIN_CHECKED, replace=False))
    return pick, infer(model, torch.as_tensor(x_train[pick]).to(device), batch_size)


def _attach_training(data, rows: list[dict], pick: np.ndarray) -> None:
    """Rows found among the `pick`ed training samples: their index in the training split, and their input."""
    for r in rows:
        r["index"] = int(pick[r["index"]])
    _attach_samples(data, rows, data.split.x_train)


def _attach_samples(data, rows: list[dict], x: np.ndarray | None = None) -> None:
    """Each listed sample's input (rows index `x`, default the test inputs), in the data's units:
    pixels for images, named features for tables, words for texts."""
    if not rows:
        return
    x = data.split.x_test if x is None else x
    idx = [r["index"] for r in rows]
    if data.tokenizer is not None:
        for r, ids in zip(rows, x[idx]):
            r["text"] = data.tokenizer.decode(ids)
        return
    raw = data.normalizer.invert(x[idx])
    for r, x in zip(rows, raw):
        if data.spec.kind == "image":
            r["image"] = np.round(x, 1).tolist()
        else:
            names = data.spec.feature_names or [f"x{i}" for i in range(x.size)]
            r["features"] = {n: round(float(v), 4) + 0.0 for n, v in zip(names, x.reshape(-1))}  # (+ 0.0: no "-0.0")
