import numpy as np
import pytest
import torch
from sklearn.metrics import cohen_kappa_score, confusion_matrix, f1_score, matthews_corrcoef, precision_score, r2_score

from trainlab.core.spec import DataSpec
from trainlab.tasks import build_task

SPEC3 = DataSpec("table", (4,), "class", 3, ("a", "b", "c"))
SPEC2 = DataSpec("table", (4,), "class", 2, ("neg", "pos"))


def test_multiclass_metrics_agree_with_sklearn():
    g = torch.Generator().manual_seed(0)
    logits, y = torch.randn(200, 3, generator=g), torch.randint(0, 3, (200,), generator=g)
    task = build_task("classification", SPEC3, {})
    m = task.test_metrics(logits, y)
    pred = logits.argmax(1).numpy()
    assert m["confusion_matrix"] == confusion_matrix(y.numpy(), pred).tolist()
    assert m["f1_macro"] == pytest.approx(f1_score(y.numpy(), pred, average="macro"), abs=1e-6)
    assert m["per_class"]["b"]["precision"] == pytest.approx(precision_score(y.numpy(), pred, average=None)[1], abs=1e-6)
    assert len(m["pr_curves"]["precision"]) == 3
    assert m["mcc"] == pytest.approx(matthews_corrcoef(y.numpy(), pred), abs=1e-9)
    assert m["cohen_kappa"] == pytest.approx(cohen_kappa_score(y.numpy(), pred), abs=1e-9)
    always = task.test_metrics(torch.tensor([[0.0, 0.0, 1.0]]).repeat(200, 1), y)  # the majority-class guess
    assert always["mcc"] == always["cohen_kappa"] == 0.0 and always["accuracy"] > 0.3


def test_a_class_the_test_set_lacks_is_left_out_of_the_macro_means_as_scikit_learn_does():
    """A small or grouped test set may lack a class: it has no recall or average precision, and counting them
    as 0 (torchmetrics' default) pulled balanced accuracy from 0.83 to 0.56 here, unlike the baselines'."""
    from sklearn.metrics import balanced_accuracy_score

    from trainlab.evaluate.baselines import _score
    from trainlab.evaluate.robustness import bootstrap

    y, pred = np.array([0, 0, 1, 1, 0, 1]), np.array([0, 1, 1, 1, 0, 1])  # class c neither there nor predicted
    m = build_task("classification", SPEC3, {}).test_metrics(torch.eye(3)[pred] * 4, torch.as_tensor(y))
    assert m["balanced_accuracy"] == m["recall_macro"] == pytest.approx(balanced_accuracy_score(y, pred)) == 5 / 6
    assert m["f1_macro"] == pytest.approx(f1_score(y, pred, average="macro"))
    assert m["precision_macro"] == pytest.approx(precision_score(y, pred, average="macro"))
    assert m["per_class"]["c"] == {"precision": None, "recall": None, "f1": None, "support": 0, "average_precision": None}
    assert m["average_precision_macro"] == pytest.approx(np.mean([m["per_class"][c]["average_precision"] for c in "ab"]))
    mine = _score(SPEC3, pred, y)  # the baselines' scores, by scikit-learn: the same definitions
    assert mine["balanced_accuracy"] == pytest.approx(m["balanced_accuracy"]) and mine["f1_macro"] == pytest.approx(m["f1_macro"])
    b = bootstrap(y, pred, 3, resamples=200)
    assert b["f1_macro"][0] <= m["f1_macro"] <= b["f1_macro"][1] and b["balanced_accuracy"][1] <= 1
    task2 = build_task("auto", SPEC2, {})
    assert "roc_auc" not in task2.test_metrics(torch.tensor([[2.0], [1.0]]), torch.tensor([1, 1]))  # one class: no ranking


def test_binary_uses_one_logit_and_bce():
    task = build_task("auto", SPEC2, {})
    assert task.output_size() == 1 and task.loss_name == "bce"
    z, y = torch.tensor([[2.0], [-1.0], [0.5], [-3.0]]), torch.tensor([1, 0, 0, 0])
    m = task.test_metrics(z, y)
    assert m["accuracy"] == 0.75 and m["roc_auc"] == 1.0


@pytest.mark.parametrize("spec", [SPEC2, SPEC3], ids=["bce", "ce"])
def test_balanced_class_weights_are_a_weighted_mean_over_the_training_counts(spec):
    from trainlab.core.errors import RecipeError

    k = spec.num_classes
    y_train = np.array([0] * 8 + [1] * 2 + ([2] * 6 if k == 3 else []))
    task = build_task("classification", spec, {"class_weights": "balanced"}, y_train=y_train)
    w = len(y_train) / (k * np.bincount(y_train))
    assert task.class_weights.tolist() == pytest.approx(w.tolist()) and not task.written_gradient
    g = torch.Generator().manual_seed(0)
    y = torch.tensor([0, 1, 1, 0, k - 1])
    out = torch.randn(5, task.output_size(), generator=g)
    plain = build_task("classification", spec, {}).loss
    per = torch.stack([plain(out[i:i + 1], y[i:i + 1]) for i in range(5)])  # each sample's loss
    wy = torch.as_tensor(w, dtype=torch.float32)[y]
    assert task.loss(out, y).item() == pytest.approx(((per * wy).sum() / wy.sum()).item(), rel=1e-6)
    assert build_task("classification", spec, {"class_weights": "balanced"}).class_weights is None  # predicting: no loss
    with pytest.raises(RecipeError, match=f"class '{spec.class_names[1]}' has no training sample"):
        build_task("classification", spec, {"class_weights": "balanced"}, y_train=np.zeros(5, int))
    if k == 2:
        with pytest.raises(RecipeError, match="perceptron criterion has none"):
            build_task("classification", spec, {"class_weights": "balanced", "loss": "perceptron"}, y_train=y_train)


def test_perceptron_criterion_is_zero_when_all_correct():
    task = build_task("classification", SPEC2, {"loss": "perceptron"})
    assert task.loss(torch.tensor([[1.0], [-2.0]]), torch.tensor([1, 0])).item() == 0.0
    assert task.loss(torch.tensor([[1.0], [-2.0]]), torch.tensor([0, 0])).item() == 0.5


def test_regression_metrics_in_data_units():
    class Norm:
        target_shift, target_scale = 100.0, 10.0

    spec = DataSpec("table", (3,), "real")
    task = build_task("auto", spec, {}, normalizer=Norm())
    y, out = torch.tensor([0.0, 1.0, -1.0, 2.0]), torch.tensor([[0.1], [0.9], [-1.2], [1.5]])
    m = task.test_metrics(out, y)
    true, pred = y.numpy() * 10 + 100, out.flatten().numpy() * 10 + 100
    assert m["mae"] == pytest.approx(np.abs(true - pred).mean(), rel=1e-5)
    assert m["r2"] == pytest.approx(r2_score(true, pred), rel=1e-5)


def test_r2_of_several_targets_is_their_mean_as_scikit_learn_scores_the_baselines_and_undefined_for_one_sample():
    spec = DataSpec("table", (3,), "real", num_targets=2)
    task = build_task("auto", spec, {})
    g = torch.Generator().manual_seed(0)
    y = torch.randn(50, 2, generator=g) * torch.tensor([0.1, 2.0])  # two targets of very different spread
    out = y + 0.05 * torch.randn(50, 2, generator=g)
    m = task.test_metrics(out, y)
    assert m["r2"] == pytest.approx(r2_score(y.numpy(), out.numpy()), rel=1e-5)  # (0.80 + 1.00) / 2, not pooled
    assert m["r2"] < 0.95
    assert np.isnan(task.test_metrics(out[:1], y[:1])["r2"])


def test_task_mismatch_is_a_clear_error():
    from trainlab.core.errors import RecipeError

    with pytest.raises(RecipeError, match="regression"):
        build_task("classification", DataSpec("table", (3,), "real"), {})


def test_seq2seq_exact_and_token_accuracy():
    from trainlab.data.datasets import DIGIT_TOKENS

    spec = DataSpec("sequence", (3,), "sequence", 13, DIGIT_TOKENS, vocab_size=13, num_targets=4)
    task = build_task("auto", spec, {})
    y = torch.tensor([[5, 4, 3, 2], [6, 2, 0, 0]])  # "210<eos>", "3<eos>"
    pred = torch.tensor([[5, 4, 3, 2], [6, 7, 9, 9]])  # right; wrong where the end mark should be
    out = torch.nn.functional.one_hot(pred, 13).float() * 10
    m = task.test_metrics(out, y)
    assert m["exact_sequence_accuracy"] == 0.5 and m["token_accuracy"] == pytest.approx(5 / 6)
    assert m["examples"][0] == {"target": "210", "predicted": "210", "right": True}


def _rare_class_runs(tmp_path, key: str, values) -> dict:
    """Runs on a table of 2,000 rows, 5% of them a "rare" class shifted by 1.2 in each of 3 features,
    one per value of task.<key> (baselines only where that value is not the first)."""
    import trainlab
    from tests.conftest import recipe_dict
    from trainlab.core.config import parse_recipe

    rng = np.random.default_rng(0)
    y = (rng.random(2000) < 0.05).astype(int)
    x = rng.normal(size=(2000, 3)) + 1.2 * y[:, None]
    (tmp_path / "t.csv").write_text("a,b,c,y\n" + "".join(
        ",".join(f"{v:.3f}" for v in row) + f",{'rare' if c else 'common'}\n" for row, c in zip(x, y)))
    return {v: trainlab.run(parse_recipe(recipe_dict(
        data={"name": "table", "path": str(tmp_path / "t.csv"), "label": "y"}, task={key: v},
        optim={"name": "adam", "lr": 0.003}, train={"epochs": 20}, eval={"baselines": v != values[0]})),
        runs_dir=tmp_path, progress=False) for v in values}


def test_balanced_class_weights_find_the_rare_class(tmp_path):
    """5% of the rows are the rare class: the plain loss mostly ignores it; weighted, the run finds
    most of it, and its logistic-regression baseline is weighted the same way."""
    runs = _rare_class_runs(tmp_path, "class_weights", ("none", "balanced"))
    plain, weighted = (runs[w].metrics["test"] for w in ("none", "balanced"))
    assert weighted["per_class"]["rare"]["recall"] > plain["per_class"]["rare"]["recall"] + 0.3
    assert weighted["balanced_accuracy"] > plain["balanced_accuracy"] + 0.1
    assert "logistic regression (balanced)" in runs["balanced"].metrics["baselines"]["models"]


@pytest.mark.parametrize("monitor", ["val_loss", "val_accuracy"])
def test_early_stopping_monitors_a_validation_metric_the_right_way(monitor, tmp_path):
    """The best epoch is the one with the lowest validation loss, or the highest validation accuracy."""
    import trainlab
    from tests.conftest import recipe_dict
    from trainlab.core.config import parse_recipe

    r = recipe_dict(data={"name": "digits"}, optim={"name": "sgd", "lr": 0.05}, train={
        "epochs": 12, "early_stopping": {"patience": 3, "monitor": monitor}})
    run = trainlab.run(parse_recipe(r), runs_dir=tmp_path, progress=False)
    h = run.metrics["history"]
    values = [row[monitor] for row in h]
    best = values.index((min if monitor == "val_loss" else max)(values))  # the first epoch that reached it
    assert run.metrics["fit"]["best_epoch"] == h[best]["epoch"]


def test_a_monitor_the_task_does_not_compute_is_refused_before_the_run(tmp_path):
    import trainlab
    from tests.conftest import recipe_dict
    from trainlab.core.config import parse_recipe
    from trainlab.core.errors import RecipeError

    with pytest.raises(RecipeError, match="the regression task validates val_loss, val_mae, val_rmse"):
        trainlab.run(parse_recipe(recipe_dict(data={"name": "diabetes"}, train={"early_stopping": {
            "monitor": "val_accuracy"}})), runs_dir=tmp_path, progress=False)
    assert not list(tmp_path.iterdir())  # no run directory was made


def test_binary_threshold_predicts_above_it_and_is_chosen_by_youden_or_f1():
    from trainlab.core.errors import RecipeError

    task = build_task("classification", SPEC2, {"threshold": 0.2})
    z = torch.tensor([[-1.0], [-1.5], [0.3]])  # σ: 0.27, 0.18, 0.57
    assert task.predict(z).tolist() == [1, 0, 1]
    # validation outputs where the positives score 0.3-0.45 and the negatives 0.05-0.35
    p = torch.tensor([0.05, 0.1, 0.2, 0.25, 0.35, 0.3, 0.4, 0.45])
    y = torch.tensor([0, 0, 0, 0, 0, 1, 1, 1])
    z = torch.logit(p).unsqueeze(1)
    youden = build_task("classification", SPEC2, {"threshold": "youden"})
    t = youden.choose_threshold(z, y)
    assert 0.25 < t < 0.3  # every positive above it, one negative (0.35) too: J = 1 - 1/5
    f1 = build_task("classification", SPEC2, {"threshold": "f1"}).choose_threshold(z, y)
    assert 0.25 < f1 < 0.3 or 0.35 < f1 < 0.4  # F1 = 6/7 either way; the nearer to ½ wins ties
    with pytest.raises(RecipeError, match="task.threshold is for two classes"):
        build_task("classification", SPEC3, {"threshold": "youden"})
    with pytest.raises(RecipeError, match="strictly between 0 and 1"):
        build_task("classification", SPEC2, {"threshold": 1.0})


def test_a_threshold_chosen_on_validation_finds_the_rare_class_and_travels_to_prediction(tmp_path):
    import json

    from trainlab.export.exporter import export

    runs = _rare_class_runs(tmp_path, "threshold", (0.5, "youden"))
    plain, chosen = (runs[t].metrics["test"] for t in (0.5, "youden"))
    assert plain["threshold_by"] == "recipe" and chosen["threshold_by"] == "youden" and chosen["threshold"] < 0.3
    assert chosen["per_class"]["rare"]["recall"] > plain["per_class"]["rare"]["recall"] + 0.2
    p = runs["youden"].predictor
    assert p.task.threshold == chosen["threshold"] and p.metadata()["threshold"] == chosen["threshold"]
    probe = np.array([[0.0, 0.0, 0.0], [0.5, 0.5, 0.5], [1.0, 1.0, 1.0], [1.5, 1.5, 1.5]], np.float32)
    out = p.predict(probe)
    rare = np.asarray(out["probabilities"])[:, 1]
    assert out["predicted"] == ["rare" if q > chosen["threshold"] else "common" for q in rare]
    assert ((rare > chosen["threshold"]) & (rare < 0.5)).any()  # a row the default threshold would call common
    card = export(runs["youden"].path, "safetensors", tmp_path / "e")
    assert f"P > {chosen['threshold']:.6g}" in json.dumps(card["output"])


def test_a_bad_task_key_or_value_is_refused_before_the_run_in_one_sentence(tmp_path):
    import trainlab
    from tests.conftest import recipe_dict
    from trainlab.core.config import parse_recipe
    from trainlab.core.errors import RecipeError

    for task, match in (({"threshold": "maybe"}, "Bad value for 'task.threshold': received 'maybe'; input should be "
                                                 "a valid number.*, or input should be 'youden' or 'f1'"),
                        ({"treshold": 0.3}, "Unknown key 'task.treshold'.*Did you mean 'threshold'"),
                        ({"threshold": 0.3, "__data": "iris"}, "task.threshold is for two classes .*; this dataset "
                                                                "has 3"),  # what the task checks when it is built
                        ({"loss": "bce", "__data": "iris"}, "task.loss = 'bce' is for two classes; this dataset has 3")):
        data = task.pop("__data", "breast_cancer")
        with pytest.raises(RecipeError, match=match):
            trainlab.run(parse_recipe(recipe_dict(data={"name": data}, task=task)), runs_dir=tmp_path, progress=False)
    assert not list(tmp_path.iterdir())  # no run directory was made
