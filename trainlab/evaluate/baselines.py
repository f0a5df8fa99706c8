""""Do you really need deep learning?" A trivial baseline (majority class / mean), a classical one
(logistic / ridge regression, scikit-learn, its regularisation chosen on the validation split as the
network's epoch is) and, for tables, the best single feature, on the same split and metrics, each
tested against the network on the same test samples."""
from __future__ import annotations

import logging
import time
import warnings

import numpy as np

from .errors import spread_errors
from .grouped import by_group, headline

log = logging.getLogger("trainlab")

# the metrics the baselines are scored and shown on, by target; the first decides "the best baseline"
COLUMNS = {"class": ("accuracy", "balanced_accuracy", "f1_macro", "mcc"), "real": ("r2", "rmse", "mae")}
TRIVIAL = {"class": "majority class", "real": "mean"}  # the trivial baseline's name, by target
SINGLE = "best single feature"  # one name over repeats, whichever feature each split picks
MAX_SINGLE_FEATURES = 200  # tables up to this many features get the single-feature baseline (a tree each)
LEAK_SCORE = 0.99  # a single feature this good on validation is worth checking for leakage
FIT_FORMAT = 1  # in the fit's fingerprint: raise it when fit_baselines or to_arrays change, and stored fits go stale
# the classical baselines' regularisation path, strongest first: an untuned one is a straw man (on tp1,
# logistic regression with scikit-learn's C = 1 scored 0.8225, with C = 0.1 chosen on validation 0.8347)
PATH = {"class": ("C", (0.01, 0.1, 1.0, 10.0)), "real": ("alpha", (100.0, 10.0, 1.0, 0.1))}


def _flat(x, vocab: int = 0):
    """Model inputs as a feature matrix: token ids become bag-of-words counts; the NaN steps that pad a
    series, 0 (each value's training mean when standardised)."""
    if vocab:
        from scipy.sparse import csr_matrix

        rows = np.repeat(np.arange(len(x)), x.shape[1])
        m = csr_matrix((np.ones(x.size), (rows, x.reshape(-1))), shape=(len(x), vocab))
        m[:, 0] = 0  # padding is no word
        return m
    flat = x.reshape(len(x), -1)
    return np.nan_to_num(flat) if np.issubdtype(flat.dtype, np.floating) and np.isnan(flat).any() else flat


def compared_on(baselines: dict, target: str) -> str:
    """The metric the network and its baselines are compared on: the first of COLUMNS, or the loss when
    the network was trained for a regression loss of the user's (a quantile, say: r² would judge a mean)."""
    return baselines.get("compared_on") or COLUMNS[target][0]


def _rows(data, max_samples: int, seed: int) -> tuple[np.ndarray | None, str]:
    """The training rows the baselines are fitted on (None: all of them), and the note saying so."""
    n = len(data.split.x_train)
    if n <= max_samples:
        return None, ""
    pick = np.random.default_rng(seed).choice(n, max_samples, replace=False)
    return pick, f"fitted on a random {max_samples:,} of {n:,} training samples (eval.baseline_max_samples)"


def fingerprint(data, max_samples: int, seed: int, balanced: bool = False) -> str:
    """What the baselines' fit depends on, hashed: the samples they are fitted, tuned and tested on, the
    data's description and scikit-learn's version. Two runs of the same data (an ablation's variants, a
    recipe run again with another model) share it, and so can share the fit."""
    import hashlib
    import json

    import sklearn

    s, spec = data.split, data.spec
    pick, note = _rows(data, max_samples, seed)
    h = hashlib.sha256(json.dumps([FIT_FORMAT, sklearn.__version__, spec.target, spec.kind, spec.vocab_size,
                                   spec.num_classes, list(spec.feature_names or ()), balanced, note, PATH]).encode())
    for a in (s.x_train if pick is None else s.x_train[pick], s.y_train if pick is None else s.y_train[pick],
              s.x_val, s.y_val, s.x_test):
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype}{a.shape}".encode())
        h.update(a.reshape(-1).view(np.uint8))
    return h.hexdigest()


def fit_baselines(data, max_samples: int, seed: int, balanced: bool = False) -> dict:
    """The baselines fitted on the training split (the classical one tuned on validation) and their
    test predictions (standardised values for regressions), class probabilities and fit times: all that
    `score_baselines` needs, whatever the network predicted. `balanced`: the classifiers weight classes
    as the run did (task.class_weights = "balanced"), so the comparison is like for like."""
    from sklearn.dummy import DummyClassifier, DummyRegressor
    from sklearn.linear_model import LogisticRegression, Ridge

    s, spec = data.split, data.spec
    pick, note = _rows(data, max_samples, seed)
    x, y = _flat(s.x_train, spec.vocab_size), s.y_train
    if pick is not None:
        x, y = x[pick], y[pick]
    x_test, x_val = _flat(s.x_test, spec.vocab_size), _flat(s.x_val, spec.vocab_size)
    if spec.target == "class":
        classical = "logistic regression" + " (balanced)" * balanced
        models = {TRIVIAL["class"]: DummyClassifier(strategy="most_frequent"),
                  classical: LogisticRegression(max_iter=100, warm_start=True,
                                                class_weight="balanced" if balanced else None)}
    else:
        classical = "ridge regression"
        models = {TRIVIAL["real"]: DummyRegressor(strategy="mean"), classical: Ridge()}
    single = None
    if spec.kind == "table" and x.shape[1] <= MAX_SINGLE_FEATURES:
        j, score = _best_feature(x, y, s.x_val, s.y_val, spec.target == "class", balanced)
        name = (spec.feature_names or [f"x{i}" for i in range(x.shape[1])])[j]
        single = {"feature": name, "validation_score": score,
                  "metric": "balanced_accuracy" if spec.target == "class" else "r2"}
        models[SINGLE] = _OneColumn(_tree(spec.target == "class", balanced), j)
    fitted = {}
    for name, m in models.items():
        t0, tuned = time.perf_counter(), None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence warnings: the baseline is what it is
            if name == classical:
                m, tuned = _along_path(m, *PATH[spec.target], x, y, x_val, s.y_val, spec.target == "class", balanced)
            else:
                m.fit(x, y)
        fitted[name] = {"fit_seconds": time.perf_counter() - t0, "tuned": tuned, "pred": m.predict(x_test),
                        "proba": _probabilities(m, x_test, spec.num_classes) if spec.target == "class" else None}
    return {"models": fitted, "classical": classical, "note": note, "single_feature": single}


def score_baselines(fitted: dict, data, network, loss=None, own=()) -> dict:
    """The fitted baselines' test metrics, each with a paired test against the `network`'s predictions on
    the same test samples (classes, or values in the target's units). `loss`: a regression loss of the
    user's, fn(outputs, targets) on standardised values; the baselines get its value, and are compared with
    the network on it, sample by sample. `own`: the recipe's eval.metrics, scored on each baseline too."""
    from . import metrics as user_metrics

    s, spec, norm = data.split, data.spec, data.normalizer
    if loss is not None:  # the network's own loss on each test sample, from its predictions in the target's units
        theirs = per_sample(loss, (np.asarray(network) - norm.target_shift) / norm.target_scale, s.y_test)
    out, fns = {}, user_metrics.bound(own)
    groups = s.groups[2] if s.groups is not None else None  # the test samples' groups: the paired tests' units
    for name, f in fitted["models"].items():
        pred, true = f["pred"], s.y_test
        on_loss = {}
        if loss is not None:  # the user's loss, per sample, on standardised values as in training
            mine = per_sample(loss, pred, true)
            on_loss = {"loss": float(mine.mean()), "paired": paired_losses(theirs, mine)}
        if spec.target != "class":  # standardised targets back in their units
            pred, true = pred * norm.target_scale + norm.target_shift, true * norm.target_scale + norm.target_shift
        mine = user_metrics.compute(fns, true, pred, f["proba"], f"the {name} baseline's predictions") if own else {}
        out[name] = {**_score(spec, pred, true), **mine, "fit_seconds": f["fit_seconds"],
                     "paired": paired_test(true, network, pred, spec.target == "class", groups), **on_loss,
                     **({"tuned": f["tuned"]} if f["tuned"] else {})}
        per = None if groups is None else headline(by_group(  # each group scored once, as the network's are
            groups, true, f["proba"] if spec.target == "class" else pred, spec.num_classes, intervals=False),
            spec.num_classes)
        if per:
            out[name]["by_group"] = per
    single = fitted["single_feature"]
    return {"models": out, "note": fitted["note"], "tuning": tuning_note(fitted["classical"],
                                                                         fitted["models"][fitted["classical"]]["tuned"]),
            **({"single_feature": single} if single else {}), **({"compared_on": "loss"} if loss is not None else {}),
            **({"reused": True} if fitted.get("reused") else {})}


def to_arrays(fitted: dict) -> dict:
    """A fit as named arrays (one .npz file; nothing pickled): the predictions, and the rest as JSON."""
    import json

    names = list(fitted["models"])
    arrays = {"meta": np.array(json.dumps({**{k: v for k, v in fitted.items() if k != "models"}, "names": names,
                                           "models": {n: {k: fitted["models"][n][k] for k in ("fit_seconds", "tuned")}
                                                      for n in names}}))}
    for i, n in enumerate(names):
        for k in ("pred", "proba"):
            if fitted["models"][n][k] is not None:
                arrays[f"{k}{i}"] = fitted["models"][n][k]
    return arrays


def from_arrays(arrays: dict) -> dict:
    """`to_arrays`' inverse, marked as reused. KeyError or ValueError when the arrays are not one."""
    import json

    meta = json.loads(str(arrays["meta"]))
    models = {n: {**meta["models"][n], "pred": arrays[f"pred{i}"], "proba": arrays.get(f"proba{i}")}
              for i, n in enumerate(meta.pop("names"))}
    return {**meta, "models": models, "reused": True}


def _along_path(model, parameter: str, values, x, y, x_val, y_val, classes: bool, balanced: bool):
    """The model fitted along its regularisation path, strongest first (each fit warm-started from the
    last where the model can), while its validation score (accuracy, balanced accuracy, or R²) rises;
    the best one, and what was tried: [[value, score], ...]."""
    import copy

    from sklearn.metrics import balanced_accuracy_score, r2_score

    score = (balanced_accuracy_score if balanced else lambda t, p: float((t == p).mean())) if classes else r2_score
    tried, best = [], None
    for v in values:
        model.set_params(**{parameter: v}).fit(x, y)
        tried.append([v, float(score(y_val, model.predict(x_val)))])
        if best is not None and tried[-1][1] <= tried[best][1]:
            break
        best, kept = len(tried) - 1, copy.deepcopy(model)
    metric = ("balanced_accuracy" if balanced else "accuracy") if classes else "r2"
    return kept, {"parameter": parameter, "value": tried[best][0], "metric": metric, "tried": tried}


def tuning_note(name: str, tuned: dict) -> str:
    """How the classical baseline's regularisation was chosen, in words."""
    tried = ", ".join(f"{v:g}" for v, _ in tuned["tried"])
    scores = ", ".join(f"{sc:.4f}" for _, sc in tuned["tried"])
    p = tuned["parameter"]
    return (f"{name[0].upper()}{name[1:]} with {p} = {tuned['value']:g}, the best on the validation split of {p} = "
            f"{tried} ({tuned['metric'].replace('_', ' ')} {scores}; the strongest regularisation first, stopping "
            "when the score stops rising)")


def _probabilities(model, x, k: int) -> np.ndarray:
    """A fitted classifier's class probabilities (N, K), zero for a class it never saw in training."""
    p = np.zeros((x.shape[0], k))
    p[:, model.classes_] = model.predict_proba(x)
    return p


def per_sample(loss, pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """The loss of each sample alone (a batch of one), for a paired test."""
    import torch

    p, t = (torch.as_tensor(np.asarray(a), dtype=torch.float32) for a in (pred, true))
    p = p.reshape(t.shape)
    with torch.no_grad():
        return np.array([float(loss(p[i:i + 1], t[i:i + 1])) for i in range(len(t))])


def paired_losses(network: np.ndarray, baseline: np.ndarray) -> dict:
    """Wilcoxon's signed-rank test on the two losses of each test sample."""
    from scipy import stats

    wins, losses = int((network < baseline).sum()), int((network > baseline).sum())
    p = float(stats.wilcoxon(network, baseline).pvalue) if wins + losses else 1.0
    return {"test": "Wilcoxon's signed-rank test on the loss of each sample", "network_only": wins,
            "baseline_only": losses, "p_value": p}


def _tree(classes: bool, balanced: bool = False):
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    if classes:
        return DecisionTreeClassifier(max_depth=3, random_state=0, class_weight="balanced" if balanced else None)
    return DecisionTreeRegressor(max_depth=3, random_state=0)


class _OneColumn:
    """An estimator that sees one column of the inputs."""

    def __init__(self, model, column: int):
        self.model, self.column = model, column

    def fit(self, x, y):
        self.model.fit(x[:, [self.column]], y)
        return self

    def predict(self, x):
        return self.model.predict(x[:, [self.column]])

    def predict_proba(self, x):
        return self.model.predict_proba(x[:, [self.column]])

    @property
    def classes_(self):
        return self.model.classes_


def _best_feature(x, y, x_val, y_val, classes: bool, balanced: bool) -> tuple[int, float]:
    """The one feature from which a depth-3 decision tree predicts the target best, judged on the
    validation split (balanced accuracy, or R²), and that score. A feature that alone predicts the
    label almost perfectly is either the answer or a leak (recorded after the outcome, derived from it)."""
    from sklearn.metrics import balanced_accuracy_score, r2_score

    x_val = x_val.reshape(len(x_val), -1)
    scores = []
    for j in range(x.shape[1]):
        p = _tree(classes, balanced).fit(x[:, [j]], y).predict(x_val[:, [j]])
        with warnings.catch_warnings():  # a validation split of one sample: R² is NaN, no leak said
            warnings.simplefilter("ignore")
            scores.append(balanced_accuracy_score(y_val, p) if classes else r2_score(y_val, p))
    j = int(np.argmax(scores))
    return j, float(scores[j])


def _score(spec, pred, true) -> dict:
    with warnings.catch_warnings():  # a test set of one or two samples: the scores are NaN, and the report says why
        warnings.simplefilter("ignore")
        return _scores(spec, pred, true)


def _scores(spec, pred, true) -> dict:
    if spec.target == "class":
        from sklearn.metrics import balanced_accuracy_score, cohen_kappa_score, f1_score, matthews_corrcoef

        return {"accuracy": float((pred == true).mean()), "balanced_accuracy": float(balanced_accuracy_score(true, pred)),
                "f1_macro": float(f1_score(true, pred, average="macro", zero_division=0)),
                "mcc": float(matthews_corrcoef(true, pred)), "cohen_kappa": float(cohen_kappa_score(true, pred))}
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    return {"mse": float(mean_squared_error(true, pred)), "rmse": float(np.sqrt(mean_squared_error(true, pred))),
            "mae": float(mean_absolute_error(true, pred)), "r2": float(r2_score(true, pred)),
            "share_below_prediction": float((true < pred).mean())}


def paired_test(true: np.ndarray, network: np.ndarray, baseline: np.ndarray, classes: bool, groups=None) -> dict:
    """Whether the network and a baseline differ on the same test samples more than chance would
    make them. Classes: McNemar's exact test, on the samples only one of the two gets right (under
    no difference each is as likely to be the network's as the baseline's: a binomial with p = ½).
    Values: Wilcoxon's signed-rank test on the two absolute errors of each sample; with several targets,
    each sample's absolute errors in units of each target's spread, summed (one target: the same test).
    `groups` (each test sample's, when some group holds several: windows of one recording are not
    independent): a sign-flip test over the groups instead (`sign_flip`) on the same per-sample differences."""
    from scipy import stats

    n = len(true)
    true, network, baseline = (np.asarray(a).reshape(n, -1) for a in (true, network, baseline))
    if network.shape != true.shape or baseline.shape != true.shape:  # a run saved before every target was kept
        true, network, baseline = true[:, :1], network[:, :1], baseline[:, :1]
    if classes:
        right_net, right_base = network[:, 0] == true[:, 0], baseline[:, 0] == true[:, 0]
        ahead = right_net.astype(np.float64) - right_base  # +1: only the network right; -1: only the baseline
        test, p = "McNemar's exact test", lambda w, l: float(stats.binomtest(w, w + l, 0.5).pvalue)  # noqa: E731
    else:
        e_net, e_base = spread_errors(network, true), spread_errors(baseline, true)
        ahead = e_base - e_net  # > 0: the network closer
        test = "Wilcoxon's signed-rank test on absolute errors"
        p = lambda w, l: float(stats.wilcoxon(e_net, e_base).pvalue)  # noqa: E731
    wins, losses = int((ahead > 0).sum()), int((ahead < 0).sum())
    out = {"test": test, "network_only": wins, "baseline_only": losses}
    if groups is not None and len(np.unique(groups)) < n:
        units = np.unique(groups, return_inverse=True)[1].ravel()
        out.update(test="a sign-flip test over whole test groups", groups=int(units.max()) + 1,
                   p_value=sign_flip(np.bincount(units, weights=ahead)))
        return out
    return {**out, "p_value": p(wins, losses) if wins + losses else 1.0}


def sign_flip(d: np.ndarray, resamples: int = 10_000, seed: int = 0) -> float:
    """Two-sided p-value of a paired randomisation test on `d`, one difference per unit (a group's summed
    per-sample differences): under no difference, the two models' outputs could be swapped within each unit,
    flipping its sign. Exact over every sign pattern for up to 16 units, else `resamples` random ones."""
    d = np.asarray(d, np.float64)
    observed = abs(d.sum())
    if not np.any(d):
        return 1.0
    tol = 1e-9 * np.abs(d).sum()
    if len(d) <= 16:
        signs = 1 - 2 * ((np.arange(2 ** len(d))[:, None] >> np.arange(len(d))) & 1)
        return float((np.abs(signs @ d) >= observed - tol).mean())
    rng, hits = np.random.default_rng(seed), 0
    for start in range(0, resamples, 1000):  # 1,000 sign patterns at a time: bounded memory for many groups
        signs = rng.integers(0, 2, (min(1000, resamples - start), len(d))) * 2 - 1
        hits += int((np.abs(signs @ d) >= observed - tol).sum())
    return (hits + 1) / (resamples + 1)


def over_repeats(network: list[float], baseline: list[float]) -> dict:
    """The network against a baseline over repeated splits (the same seeds or folds for both): a
    paired t-test on the per-split metric."""
    from scipy import stats

    d = np.asarray(network) - np.asarray(baseline)
    p = float(stats.ttest_rel(network, baseline).pvalue) if np.any(d != d[0]) else (0.0 if d[0] else 1.0)
    return {"test": "paired t-test over the splits", "mean_difference": float(d.mean()), "p_value": p}
