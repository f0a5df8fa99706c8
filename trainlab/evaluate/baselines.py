""""Do you really need deep learning?" A trivial baseline (majority class / mean) and a
classical one (logistic / ridge regression, scikit-learn) on the same split and metrics."""
from __future__ import annotations

import logging
import time
import warnings

import numpy as np

log = logging.getLogger("trainlab")


def _flat(x, vocab: int = 0):
    """Model inputs as a feature matrix: token ids become bag-of-words counts."""
    if vocab:
        from scipy.sparse import csr_matrix

        rows = np.repeat(np.arange(len(x)), x.shape[1])
        m = csr_matrix((np.ones(x.size), (rows, x.reshape(-1))), shape=(len(x), vocab))
        m[:, 0] = 0  # padding is no word
        return m
    return x.reshape(len(x), -1)


def run_baselines(data, max_samples: int, seed: int, balanced: bool = False) -> dict:
    """The baselines' test metrics; `balanced`: the classifier weights classes as the run did
    (task.class_weights = "balanced"), so the comparison is like for like."""
    from sklearn.dummy import DummyClassifier, DummyRegressor
    from sklearn.linear_model import LogisticRegression, Ridge

    s, spec = data.split, data.spec
    x, y = _flat(s.x_train, spec.vocab_size), s.y_train
    note = ""
    if x.shape[0] > max_samples:
        pick = np.random.default_rng(seed).choice(x.shape[0], max_samples, replace=False)
        x, y = x[pick], y[pick]
        note = f"fitted on a random {max_samples} of {len(s.x_train)} training samples (eval.baseline_max_samples)"
    x_test = _flat(s.x_test, spec.vocab_size)
    if spec.target == "class":
        models = {"majority class": DummyClassifier(strategy="most_frequent"),
                  "logistic regression" + " (balanced)" * balanced:
                      LogisticRegression(max_iter=300, class_weight="balanced" if balanced else None)}
    else:
        models = {"mean": DummyRegressor(strategy="mean"), "ridge regression": Ridge(alpha=1.0)}
    out = {}
    for name, m in models.items():
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence warnings: the baseline is what it is
            m.fit(x, y)
        pred = m.predict(x_test)
        out[name] = {**_score(spec, pred, s.y_test, data.normalizer), "fit_seconds": time.perf_counter() - t0}
    return {"models": out, "note": note}


def _score(spec, pred, true, norm) -> dict:
    if spec.target == "class":
        from sklearn.metrics import balanced_accuracy_score, f1_score

        return {"accuracy": float((pred == true).mean()), "balanced_accuracy": float(balanced_accuracy_score(true, pred)),
                "f1_macro": float(f1_score(true, pred, average="macro", zero_division=0))}
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    p = pred * norm.target_scale + norm.target_shift
    t = true * norm.target_scale + norm.target_shift
    return {"mse": float(mean_squared_error(t, p)), "rmse": float(np.sqrt(mean_squared_error(t, p))),
            "mae": float(mean_absolute_error(t, p)), "r2": float(r2_score(t, p))}
