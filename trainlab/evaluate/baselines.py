""""Do you really need deep learning?" A trivial baseline (majority class / mean), a classical one
(logistic / ridge regression, scikit-learn, its regularisation chosen on the validation split as the
network's epoch is) and, for tables, the best single feature, on the same split and metrics, each
tested against the network on the same test samples."""
from __future__ import annotations

import logging
import time
import warnings

import numpy as np

log = logging.getLogger("trainlab")

# the metrics the baselines are scored and shown on, by target; the first decides "the best baseline"
COLUMNS = {"class": ("accuracy", "balanced_accuracy", "f1_macro", "mcc"), "real": ("r2", "rmse", "mae")}
TRIVIAL = {"class": "majority class", "real": "mean"}  # the trivial baseline's name, by target
SINGLE = "best single feature"  # one name over repeats, whichever feature each split picks
MAX_SINGLE_FEATURES = 200  # tables up to this many features get the single-feature baseline (a tree each)
LEAK_SCORE = 0.99  # a single feature this good on validation is worth checking for leakage
# the classical baselines' regularisation path, strongest first: an untuned one is a straw man (on tp1,
# logistic regression with scikit-learn's C = 1 scored 0.8225, with C = 0.1 chosen on validation 0.8347)
PATH = {"class": ("C", (0.01, 0.1, 1.0, 10.0)), "real": ("alpha", (100.0, 10.0, 1.0, 0.1))}


def _flat(x, vocab: int = 0):
    """Model inputs as a feature matrix: token ids become bag-of-words counts."""
    if vocab:
        from scipy.sparse import csr_matrix

        rows = np.repeat(np.arange(len(x)), x.shape[1])
        m = csr_matrix((np.ones(x.size), (rows, x.reshape(-1))), shape=(len(x), vocab))
        m[:, 0] = 0  # padding is no word
        return m
    return x.reshape(len(x), -1)


def compared_on(baselines: dict, target: str) -> str:
    """The metric the network and its baselines are compared on: the first of COLUMNS, or the loss when
    the network was trained for a regression loss of the user's (a quantile, say: r² would judge a mean)."""
    return baselines.get("compared_on") or COLUMNS[target][0]


def run_baselines(data, max_samples: int, seed: int, network, balanced: bool = False, loss=None, own=()) -> dict:
    """The baselines' test metrics, each with a paired test against the `network`'s predictions on
    the same test samples (classes, or values in the target's units); `balanced`: the classifier
    weights classes as the run did (task.class_weights = "balanced"), so the comparison is like for like.
    `loss`: a regression loss of the user's, fn(outputs, targets) on standardised values; the baselines
    get its value, and are compared with the network on it, sample by sample. `own`: the recipe's
    eval.metrics, scored on each baseline's predictions too."""
    from sklearn.dummy import DummyClassifier, DummyRegressor
    from sklearn.linear_model import LogisticRegression, Ridge

    from . import metrics as user_metrics

    s, spec = data.split, data.spec
    x, y = _flat(s.x_train, spec.vocab_size), s.y_train
    note = ""
    if x.shape[0] > max_samples:
        pick = np.random.default_rng(seed).choice(x.shape[0], max_samples, replace=False)
        x, y = x[pick], y[pick]
        note = f"fitted on a random {max_samples:,} of {len(s.x_train):,} training samples (eval.baseline_max_samples)"
    x_test, x_val = _flat(s.x_test, spec.vocab_size), _flat(s.x_val, spec.vocab_size)
    norm = data.normalizer
    if loss is not None:  # the network's own loss on each test sample, from its predictions in the target's units
        theirs = per_sample(loss, (np.asarray(network) - norm.target_shift) / norm.target_scale, s.y_test)
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
    out, fns = {}, user_metrics.bound(own)
    for name, m in models.items():
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence warnings: the baseline is what it is
            if name == classical:
                m, tuned = _along_path(m, *PATH[spec.target], x, y, x_val, s.y_val, spec.target == "class", balanced)
            else:
                m.fit(x, y)
        fit_seconds = time.perf_counter() - t0
        pred, true = m.predict(x_test), s.y_test
        on_loss = {}
        if loss is not None:  # the user's loss, per sample, on standardised values as in training
            mine = per_sample(loss, pred, true)
            on_loss = {"loss": float(mine.mean()), "paired": paired_losses(theirs, mine)}
        if spec.target != "class":  # standardised targets back in their units
            pred, true = pred * norm.target_scale + norm.target_shift, true * norm.target_scale + norm.target_shift
        mine = user_metrics.compute(fns, true, pred,
                                    _probabilities(m, x_test, spec.num_classes) if spec.target == "class" else None,
                                    f"the {name} baseline's predictions") if own else {}
        out[name] = {**_score(spec, pred, true), **mine, "fit_seconds": fit_seconds,
                     "paired": paired_test(true, network, pred, spec.target == "class"), **on_loss,
                     **({"tuned": tuned} if name == classical else {})}
    return {"models": out, "note": note, "tuning": tuning_note(classical, tuned),
            **({"single_feature": single} if single else {}),
            **({"compared_on": "loss"} if loss is not None else {})}


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
        scores.append(balanced_accuracy_score(y_val, p) if classes else r2_score(y_val, p))
    j = int(np.argmax(scores))
    return j, float(scores[j])


def _score(spec, pred, true) -> dict:
    if spec.target == "class":
        from sklearn.metrics import balanced_accuracy_score, cohen_kappa_score, f1_score, matthews_corrcoef

        return {"accuracy": float((pred == true).mean()), "balanced_accuracy": float(balanced_accuracy_score(true, pred)),
                "f1_macro": float(f1_score(true, pred, average="macro", zero_division=0)),
                "mcc": float(matthews_corrcoef(true, pred)), "cohen_kappa": float(cohen_kappa_score(true, pred))}
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    return {"mse": float(mean_squared_error(true, pred)), "rmse": float(np.sqrt(mean_squared_error(true, pred))),
            "mae": float(mean_absolute_error(true, pred)), "r2": float(r2_score(true, pred)),
            "share_below_prediction": float((true < pred).mean())}


def paired_test(true: np.ndarray, network: np.ndarray, baseline: np.ndarray, classes: bool) -> dict:
    """Whether the network and a baseline differ on the same test samples more than chance would
    make them. Classes: McNemar's exact test, on the samples only one of the two gets right (under
    no difference each is as likely to be the network's as the baseline's: a binomial with p = ½).
    Values: Wilcoxon's signed-rank test on the two absolute errors of each sample."""
    from scipy import stats

    n = len(true)
    true, network, baseline = (np.asarray(a).reshape(n, -1)[:, 0] for a in (true, network, baseline))
    if classes:
        right_net, right_base = network == true, baseline == true
        wins, losses = int((right_net & ~right_base).sum()), int((~right_net & right_base).sum())
        p = float(stats.binomtest(wins, wins + losses, 0.5).pvalue) if wins + losses else 1.0
        return {"test": "McNemar's exact test", "network_only": wins, "baseline_only": losses, "p_value": p}
    e_net, e_base = np.abs(network - true), np.abs(baseline - true)
    wins, losses = int((e_net < e_base).sum()), int((e_net > e_base).sum())
    p = float(stats.wilcoxon(e_net, e_base).pvalue) if wins + losses else 1.0
    return {"test": "Wilcoxon's signed-rank test on absolute errors", "network_only": wins, "baseline_only": losses,
            "p_value": p}


def over_repeats(network: list[float], baseline: list[float]) -> dict:
    """The network against a baseline over repeated splits (the same seeds or folds for both): a
    paired t-test on the per-split metric."""
    from scipy import stats

    d = np.asarray(network) - np.asarray(baseline)
    p = float(stats.ttest_rel(network, baseline).pvalue) if np.any(d != d[0]) else (0.0 if d[0] else 1.0)
    return {"test": "paired t-test over the splits", "mean_difference": float(d.mean()), "p_value": p}
