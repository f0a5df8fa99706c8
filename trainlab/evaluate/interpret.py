"""Why does the model decide? Attributions (captum: saliency, integrated gradients, gradient
SHAP), what the first layer learned, the test inputs that excite a unit most, and a 2-D PCA of
the penultimate features. Results are plain numbers (lists), drawn by the report."""
from __future__ import annotations

import logging

import numpy as np
import torch
from torch import nn

log = logging.getLogger("trainlab")


def captum_available() -> bool:
    try:
        import captum.attr  # noqa: F401
        return True
    except ImportError:
        return False


def _first(model: nn.Module, kinds) -> nn.Module | None:
    return next((m for m in model.modules() if isinstance(m, kinds)), None)


def _last_linear(model: nn.Module) -> nn.Linear | None:
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    return linears[-1] if linears else None


def pick_samples(y: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """One test sample per class in turn, so every class is explained."""
    rng = np.random.default_rng(seed)
    classes = np.unique(y)
    out = []
    while len(out) < min(n, len(y)):
        for c in classes:
            pool = np.setdiff1d(np.flatnonzero(y == c), out)
            if len(pool) and len(out) < n:
                out.append(int(rng.choice(pool)))
    return np.asarray(out)


def attributions(model, task, x_test: np.ndarray, y_test: np.ndarray, x_train: np.ndarray, n_samples: int) -> dict:
    """Saliency, integrated gradients (baseline: the training mean) and gradient SHAP (baselines:
    training samples) of the predicted class, for chosen test samples; and, for tables, the mean
    |integrated gradient| per feature over up to 500 test samples (a global ranking)."""
    from captum.attr import GradientShap, IntegratedGradients, Saliency

    model.eval()
    class_names = task.spec.class_names

    def f(x):  # captum needs one output per class
        return task.class_logits(model(x))

    idx = pick_samples(y_test, n_samples)
    x = torch.as_tensor(x_test[idx])
    with torch.no_grad():
        pred = task.predict(model(x))  # the class the run predicts (a binary run's threshold included)
    # the baseline: the training mean (of a padded series' steps, over the series that have them; a step padded
    # in all of them, 0); a padded step stays NaN on the way to it, and gets no attribution
    with np.errstate(all="ignore"):
        mean = torch.as_tensor(np.nan_to_num(np.nanmean(x_train, 0, keepdims=True) if np.isnan(x_train).any()
                                             else x_train.mean(0, keepdims=True)))
    rng = np.random.default_rng(0)
    background = torch.as_tensor(x_train[rng.choice(len(x_train), min(100, len(x_train)), replace=False)])
    sal = Saliency(f).attribute(x, target=pred, abs=True)
    ig = IntegratedGradients(f).attribute(x, baselines=mean.expand_as(x), target=pred, n_steps=32)
    shap = GradientShap(f).attribute(x, baselines=background, target=pred, n_samples=16, stdevs=0.0)
    sal, ig, shap = (torch.nan_to_num(a.detach()) for a in (sal, ig, shap))
    out = {
        "samples": [{"index": int(i), "true": class_names[y_test[i]], "predicted": class_names[int(p)]}
                    for i, p in zip(idx, pred)],
        "saliency": sal.numpy().round(5).tolist(),
        "integrated_gradients": ig.numpy().round(5).tolist(),
        "gradient_shap": shap.numpy().round(5).tolist(),
    }
    if x_test.ndim in (2, 3):  # tables and series (T, F): rank the features (steps and values) over many test
        # samples (an image's pixels need no ranking)
        many = torch.as_tensor(x_test[rng.choice(len(x_test), min(500, len(x_test)), replace=False)])
        with torch.no_grad():
            many_pred = task.predict(model(many))
        glob = IntegratedGradients(f).attribute(many, baselines=mean.expand_as(many), target=many_pred, n_steps=16)
        out["global_importance"] = torch.nan_to_num(glob.detach()).abs().mean(0).numpy().round(6).tolist()
    return out


def learned_features(model, x_test: np.ndarray, y_test: np.ndarray, input_shape, k: int = 6, units: int = 4) -> dict:
    """First-layer weights (an MLP on images: each hidden unit's weight map; a CNN: the first
    filters) and, for a few first-layer units or channels, the k test inputs that excite them most."""
    first = _first(model, (nn.Conv2d, nn.Linear))
    out: dict = {"layer": type(first).__name__ if first is not None else None}
    if first is None:
        return out
    w = first.weight.detach()
    if isinstance(first, nn.Linear) and len(input_shape) == 3:
        out["weights"] = w[:32].reshape(-1, *input_shape).numpy().round(5).tolist()  # (units, C, H, W)
    elif isinstance(first, nn.Conv2d):
        out["weights"] = w[:32].numpy().round(5).tolist()  # (channels, C, k, k)
    acts = []
    hook = first.register_forward_hook(lambda m, i, o: acts.append(o.detach()))
    with torch.no_grad():
        model.eval()
        for i in range(0, len(x_test), 1024):
            model(torch.as_tensor(x_test[i:i + 1024]))
    hook.remove()
    a = torch.cat(acts)
    score = a.flatten(2).mean(2) if a.ndim == 4 else a  # (N, channels or units)
    chosen = torch.argsort(score.var(0), descending=True)[:units]  # the most selective units
    out["best_match"] = [{"unit": int(u), "indices": torch.argsort(score[:, u], descending=True)[:k].tolist()}
                         for u in chosen]
    return out


def feature_projection(model, x_test: np.ndarray, y_test: np.ndarray, limit: int = 2000) -> dict:
    """PCA of the inputs of the last linear layer (the penultimate features), coloured by class."""
    from sklearn.decomposition import PCA

    last = _last_linear(model)
    if last is None:
        return {}
    feats = []
    hook = last.register_forward_hook(lambda m, i, o: feats.append(i[0].detach()))
    n = min(limit, len(x_test))
    with torch.no_grad():
        model.eval()
        model(torch.as_tensor(x_test[:n]))
    hook.remove()
    f = torch.cat(feats).flatten(1).numpy()
    if f.shape[1] < 2 or len(f) < 3:  # two axes need two features, and samples enough to spread along them
        return {}
    pca = PCA(2, random_state=0).fit(f)
    return {"points": pca.transform(f).round(4).tolist(), "labels": y_test[:n].tolist(),
            "explained_variance": pca.explained_variance_ratio_.tolist(), "dims": int(f.shape[1])}


def interpret(model, data, task, n_samples: int) -> dict:
    """Everything above for a classifier on `data` (a Prepared split), CPU, float32."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # captum warns that it turns on input gradients: that is the point
        return _interpret(model, data, task, n_samples)


def _interpret(model, data, task, n_samples: int) -> dict:
    model = model.cpu().float().eval()
    s = data.split
    out: dict = {"input_shape": list(data.spec.input_shape), "kind": data.spec.kind,
                 "feature_names": list(data.spec.feature_names), "class_names": list(data.spec.class_names),
                 "categories": data.spec.category_values}
    if captum_available():
        out["attributions"] = attributions(model, task, s.x_test, s.y_test, s.x_train, n_samples)
    else:
        log.warning("captum is not installed: no attributions (pip install 'trainlab[explain]')")
    if data.spec.kind != "series":  # (a recurrent net's first linear layer is its output layer)
        out["learned"] = learned_features(model, s.x_test, s.y_test, data.spec.input_shape)
    out["projection"] = feature_projection(model, s.x_test, s.y_test)
    if data.spec.kind == "series" and "attributions" in out:  # the series the report draws, in their own units
        idx = [r["index"] for r in out["attributions"]["samples"]]
        out["attributions"]["series"] = np.round(data.normalizer.invert(s.x_test[idx]), 5).tolist()
    if data.spec.kind == "image":  # the pictures the report draws, in the data's own units
        if "attributions" in out:
            idx = [r["index"] for r in out["attributions"]["samples"]]
            out["attributions"]["images"] = np.round(data.normalizer.invert(s.x_test[idx]), 1).tolist()
        for m in out["learned"].get("best_match", []):
            m["images"] = np.round(data.normalizer.invert(s.x_test[m["indices"]]), 1).tolist()
    return out
