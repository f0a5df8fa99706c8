import numpy as np
import pytest

from trainlab.evaluate.baselines import over_repeats, paired_test


def test_mcnemar_counts_the_samples_only_one_model_gets_right():
    true = np.zeros(40, int)
    net = np.zeros(40, int)
    base = np.zeros(40, int)
    net[:3] = 1  # wrong where the baseline is right: 3
    base[3:15] = 1  # wrong where the network is right: 12
    net[15:20] = base[15:20] = 1  # both wrong: not counted
    t = paired_test(true, net, base, classes=True)
    assert (t["network_only"], t["baseline_only"]) == (12, 3)
    # exact two-sided binomial: 2 · P(X ≤ 3), X ~ Bin(15, ½) = 2 · (1 + 15 + 105 + 455) / 2¹⁵
    assert t["p_value"] == pytest.approx(2 * 576 / 2 ** 15)
    assert paired_test(true, net, net, classes=True)["p_value"] == 1.0


def test_wilcoxon_on_absolute_errors_tells_a_closer_model_from_chance():
    rng = np.random.default_rng(0)
    true = rng.normal(size=300)
    close, far = true + 0.1 * rng.normal(size=300), true + rng.normal(size=300)
    t = paired_test(true, close, far, classes=False)
    assert t["network_only"] > 250 and t["p_value"] < 1e-10
    same = paired_test(true, true + rng.normal(size=300), true + rng.normal(size=300), classes=False)
    assert same["p_value"] > 0.01 and paired_test(true, close, close, classes=False)["p_value"] == 1.0


def test_with_several_targets_the_paired_test_weighs_each_in_units_of_its_spread():
    """The network is much closer on a target of spread 0.1 and a little worse on one of spread 10: in each
    target's units the first counts; on the raw errors (or the first target alone) the second would."""
    from scipy import stats

    rng = np.random.default_rng(0)
    true = np.stack([rng.normal(size=300) * 0.1, rng.normal(size=300) * 10], 1)
    net = true + np.stack([0.01 * rng.normal(size=300), 1.05 * rng.normal(size=300)], 1)
    base = true + np.stack([0.1 * rng.normal(size=300), 1.0 * rng.normal(size=300)], 1)
    t = paired_test(true, net, base, classes=False)
    assert t["network_only"] > 200 and t["p_value"] < 1e-6
    one = paired_test(true[:, 0], net[:, 0], base[:, 0], classes=False)  # one target: Wilcoxon on its errors, as before
    assert one["p_value"] == stats.wilcoxon(np.abs(net[:, 0] - true[:, 0]), np.abs(base[:, 0] - true[:, 0])).pvalue
    old = paired_test(true, net[:, 0], base[:, 0], classes=False)  # a run saved with its first target only
    assert old["network_only"] == one["network_only"]


def test_over_repeats_is_a_paired_t_test():
    from scipy import stats

    net, base = [0.91, 0.93, 0.90, 0.94], [0.88, 0.92, 0.86, 0.90]
    t = over_repeats(net, base)
    assert t["p_value"] == pytest.approx(stats.ttest_rel(net, base).pvalue)
    assert t["mean_difference"] == pytest.approx(0.03)
    assert over_repeats([0.9, 0.9], [0.8, 0.8])["p_value"] == 0.0  # a constant difference


def _table(path, x, y, extra=None):
    cols = [f"f{i}" for i in range(x.shape[1])] + ([extra[0]] if extra else []) + ["y"]
    data = np.column_stack([x, *([extra[1]] if extra else []), y])
    np.savetxt(path, data, fmt="%.6g", delimiter=",", header=",".join(cols), comments="")
    return path


def test_the_best_single_feature_is_a_baseline_and_a_near_perfect_one_is_called_a_possible_leak(tmp_path):
    """A column recorded after the outcome (here: the label plus a little noise) predicts it alone."""
    import trainlab
    from sklearn.datasets import load_breast_cancer
    from trainlab.core.config import parse_recipe
    from tests.conftest import recipe_dict

    x, y = load_breast_cancer(return_X_y=True)
    leak = y + np.random.default_rng(0).normal(0, 0.05, len(y))
    runs = {}
    for name, extra in (("clean", None), ("leaky", ("discharge_code", leak))):
        csv = _table(tmp_path / f"{name}.csv", x[:, :8], y, extra)
        runs[name] = trainlab.run(parse_recipe(recipe_dict(
            data={"name": "table", "path": str(csv), "label": "y"}, train={"epochs": 5},
            eval={"baselines": True}, report={"html": True})), runs_dir=tmp_path / name, progress=False)
    clean, leaky = (runs[k].metrics["baselines"] for k in ("clean", "leaky"))
    assert clean["single_feature"]["feature"] in {f"f{i}" for i in range(8)}
    assert 0.7 < clean["single_feature"]["validation_score"] < 0.99
    assert leaky["single_feature"] == {"feature": "discharge_code", "validation_score": 1.0, "metric": "balanced_accuracy"}
    alone = leaky["models"]["best single feature"]
    assert alone["accuracy"] == 1.0 and alone["paired"]["network_only"] == 0
    html = (runs["leaky"].path / "report.html").read_text()
    assert "either the answer or a leak: check that discharge_code is known before the outcome" in html
    assert "or a leak" not in (runs["clean"].path / "report.html").read_text()


def test_the_classical_baseline_is_regularised_as_validation_says_not_left_a_straw_man():
    """Few samples, many noisy features: scikit-learn's default C = 1 overfits; the path, strongest first,
    stops where the validation accuracy stops rising and tests better than the default."""
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    from trainlab.evaluate.baselines import PATH, _along_path, tuning_note

    x, y = make_classification(n_samples=1200, n_features=300, n_informative=30, n_redundant=0, flip_y=0.05,
                               random_state=0)
    (tr, va, te) = (slice(0, 200), slice(200, 400), slice(400, None))
    m, tuned = _along_path(LogisticRegression(max_iter=100, warm_start=True), *PATH["class"], x[tr], y[tr], x[va],
                           y[va], True, False)
    scores = [s for _, s in tuned["tried"]]
    assert tuned["parameter"] == "C" and [v for v, _ in tuned["tried"]] == list(PATH["class"][1][:len(scores)])
    assert tuned["value"] == tuned["tried"][int(np.argmax(scores))][0] and m.C == tuned["value"]
    assert len(scores) == len(PATH["class"][1]) or scores[-1] <= max(scores[:-1])  # it stopped when the score fell
    default = LogisticRegression(max_iter=300).fit(x[tr], y[tr])
    assert (m.predict(x[te]) == y[te]).mean() > (default.predict(x[te]) == y[te]).mean() + 0.03
    assert tuning_note("logistic regression", tuned).startswith(f"Logistic regression with C = {tuned['value']:g}, the "
                                                                "best on the validation split of C = 0.01")


def test_a_lead_over_a_baseline_fitted_on_fewer_samples_says_so():
    from trainlab.report.methods import baseline_verdict

    paired = {"test": "McNemar's exact test", "network_only": 40, "baseline_only": 5, "p_value": 1e-7}
    metrics = {"spec": {"target": "class"}, "test": {"accuracy": 0.9},
               "baselines": {"models": {"majority class": {"accuracy": 0.1, "paired": paired},
                                        "logistic regression": {"accuracy": 0.8, "paired": paired}},
                             "note": "fitted on a random 500 of 900 training samples (eval.baseline_max_samples)"}}
    said, better = baseline_verdict(metrics)
    assert better and said.endswith("the network is better (significant at the 5% level); the baseline was fitted on "
                                    "a random 500 of 900 training samples (eval.baseline_max_samples), so part of "
                                    "the lead may be the network's larger training set.")
    metrics["baselines"]["note"] = ""
    assert baseline_verdict(metrics)[0].endswith("(significant at the 5% level).")


def test_a_run_on_the_same_samples_reuses_the_baselines_fit_and_new_samples_or_a_damaged_entry_fit_again(tmp_path,
                                                                                                          caplog):
    """An ablation's variants and a recipe run again with another network test on the same samples: the
    baselines' fit (7 s of tp1's 20) is kept in the runs folder's .cache and read back, scored against the
    new network's predictions."""
    import logging
    import os

    import trainlab
    from trainlab.core.config import parse_recipe
    from tests.conftest import recipe_dict

    def baselines(seed=0, **model):
        r = recipe_dict(seed=seed, data={"name": "breast_cancer"}, eval={"baselines": True},
                        model={"name": "mlp", "hidden": [8], **model})
        return trainlab.run(parse_recipe(r), runs_dir=tmp_path, progress=False).metrics["baselines"]

    first = baselines()
    entries = sorted((tmp_path / ".cache").glob("baselines-*.npz"))
    assert len(entries) == 1 and "reused" not in first
    os.utime(entries[0], (1e9, 1e9))
    with caplog.at_level(logging.INFO, logger="trainlab"):
        again = baselines(hidden=[32, 16])  # another network, the same samples
    assert again.pop("reused") is True and "the fit of an earlier run on the same samples" in caplog.text
    assert entries[0].stat().st_mtime > 1e9  # used now: the last to be pruned
    for name, m in first["models"].items():  # the same fit, each compared with its own run's network
        assert {k: v for k, v in again["models"][name].items() if k != "paired"} == \
               {k: v for k, v in m.items() if k != "paired"}
    assert again["tuning"] == first["tuning"] and again["single_feature"] == first["single_feature"]
    assert "reused" not in baselines(seed=1)  # another split: other samples, another fit
    assert len(list((tmp_path / ".cache").glob("baselines-*.npz"))) == 2
    entries[0].write_bytes(b"not an npz")
    with caplog.at_level(logging.WARNING, logger="trainlab"):
        damaged = baselines()
    assert "reused" not in damaged and "unreadable; fitting again" in caplog.text
    assert damaged["models"]["logistic regression"]["accuracy"] == first["models"]["logistic regression"]["accuracy"]
    assert baselines().get("reused") is True  # the entry was replaced


def test_the_fingerprint_changes_with_any_sample_the_fit_sees_and_with_class_weights():
    import copy

    from trainlab.core.config import parse_recipe
    from trainlab.evaluate.baselines import fingerprint
    from trainlab.procedure import _load_raw, _prepare
    from tests.conftest import recipe_dict

    r = parse_recipe(recipe_dict(data={"name": "breast_cancer"}))
    data = _prepare(_load_raw(r), r, 0)
    key = fingerprint(data, 10_000, 0)
    assert fingerprint(data, 10_000, 0) == key and fingerprint(data, 10_000, 0, balanced=True) != key
    for part in ("x_train", "y_val", "x_test"):
        other = copy.deepcopy(data)
        a = getattr(other.split, part)
        a.reshape(-1)[-1] += 1
        assert fingerprint(other, 10_000, 0) != key, part
    assert fingerprint(data, 100, 0) != key and fingerprint(data, 100, 1) != fingerprint(data, 100, 0)


def test_a_network_no_better_than_the_majority_class_is_told_what_to_look_at(tmp_path):
    """Labels that do not follow the inputs (shuffled here): the network cannot beat the majority class,
    and the CLI and report say it learned nothing, with its loss curve and what to try."""
    import trainlab
    from trainlab.core.config import parse_recipe
    from trainlab.report.methods import learned_nothing
    from tests.conftest import recipe_dict

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "noise.npz", x=rng.normal(size=(400, 5)), y=rng.permutation(np.arange(400) % 4 == 0).astype(int))
    r = trainlab.run(parse_recipe(recipe_dict(data={"name": "arrays", "path": str(tmp_path / "noise.npz")},
                                              eval={"baselines": True}, report={"html": True})),
                     runs_dir=tmp_path, progress=False)
    said = learned_nothing(r.metrics)
    assert said.startswith("The network does not measurably beat the majority class (accuracy ") and "lr-find" in said
    assert "Its training loss went from" in said and said in (r.path / "report.html").read_text()
    good = {"spec": {"target": "class"}, "test": {"accuracy": 0.9}, "history": [],
            "baselines": {"models": {"majority class": {"accuracy": 0.5, "paired": {"p_value": 1e-9}}}}}
    assert learned_nothing(good) == ""
    good["baselines"]["models"]["majority class"]["paired"]["p_value"] = 0.3  # ahead, but as chance would be
    assert learned_nothing(good).startswith("The network does not measurably beat the majority class (accuracy 0.9000")
    fell = {**good, "history": [{"train_loss": 0.69}, {"train_loss": 0.44}], "data": {"sizes": {"test": 60}}}
    fell["baselines"]["models"]["majority class"]["paired"]["test"] = "McNemar's exact test"
    assert learned_nothing(fell) == (  # it learned, but 60 samples cannot tell: no "learned nothing"
        "The network is ahead of the majority class (accuracy 0.9000 vs 0.5000), but the 60 test samples cannot tell "
        "that lead from chance (McNemar's exact test, p = 0.300). It did learn something: its training loss fell from "
        "0.6900 in the first epoch to 0.4400 in the last. --folds 5 tests every sample once, by a model trained "
        "without it, and may tell.")
    fell["history"][1]["train_loss"] = 0.68  # the loss that does not fall is what to look at
    assert learned_nothing(fell).startswith("The network does not measurably beat")
    good["data"] = {"sizes": {"test": 12}}  # ahead, not beyond chance, on too few samples to tell: the verdict says it
    assert learned_nothing(good) == ""
    good.update(fit={"steps": 1, "epochs_run": 1, "global_batch_size": 100000}, data={"sizes": {"train": 397}})
    assert "Train longer (train.epochs) or in smaller batches (train.batch_size): it took only 1 optimiser step " \
           "(1 epoch of 397 training samples in batches of 100000). If that does not help, try a lower" \
           in learned_nothing(good)


def test_the_baselines_cache_keeps_the_entries_used_last_within_its_size(tmp_path, monkeypatch):
    import os

    from trainlab import procedure

    cache = tmp_path / ".cache"
    cache.mkdir()
    for age, name in enumerate(["c", "b", "a"]):  # a: used longest ago
        (cache / f"baselines-{name}.npz").write_bytes(b"x" * 400)
        os.utime(cache / f"baselines-{name}.npz", (1e9 - age * 100, 1e9 - age * 100))
    (cache / "other.npz").write_bytes(b"x" * 4000)  # not an entry of this cache
    procedure._prune(cache, "baselines-*.npz", 1000)
    assert sorted(p.name for p in cache.iterdir()) == ["baselines-b.npz", "baselines-c.npz", "other.npz"]
    procedure._prune(cache, "baselines-*.npz", 10)  # the newest stays, however large
    assert sorted(p.name for p in cache.iterdir()) == ["baselines-c.npz", "other.npz"]


def test_with_groups_the_paired_test_flips_whole_groups():
    """20 windows from each of 10 recordings, the network right on all of 6 and the baseline on all of 4:
    McNemar on the 200 windows finds a difference; flipping whole recordings (10 units, 6 against 4) does not,
    as 10 coin tosses give 6 against 4 or further in 1 - C(10, 5) / 2^10 of their orders."""
    from math import comb

    from trainlab.evaluate.baselines import sign_flip

    groups = np.repeat(np.arange(10), 20)
    true = np.zeros(200, int)
    net, base = (groups >= 6).astype(int), (groups < 6).astype(int)  # 0 is right
    windows = paired_test(true, net, base, classes=True)
    assert windows["test"] == "McNemar's exact test" and windows["p_value"] < 0.01
    grouped = paired_test(true, net, base, classes=True, groups=groups)
    assert (grouped["network_only"], grouped["baseline_only"], grouped["groups"]) == (120, 80, 10)
    assert grouped["p_value"] == pytest.approx(1 - comb(10, 5) / 2 ** 10)
    assert paired_test(true, net, base, classes=True, groups=np.arange(200)) == windows  # one sample each: McNemar
    assert sign_flip(np.array([1.0, 1.0, 1.0])) == 0.25 and sign_flip(np.zeros(4)) == 1.0
    rng = np.random.default_rng(0)
    assert sign_flip(rng.normal(0.5, 1, 400)) < 0.001 and sign_flip(rng.normal(0, 1, 400)) > 0.01  # random signs
