import numpy as np

from trainlab.data.prepare import load_raw, prepare
from trainlab.data.split import Split, duplicates


def test_stratified_80_10_10_split():
    raw = load_raw("digits", {})
    p = prepare(raw, val_fraction=0.1, test_fraction=0.1, stratify=True, normalize="standard", seed=0)
    n = len(raw.x)
    sizes = p.summary["sizes"]
    assert abs(sizes["test"] - 0.1 * n) <= 1 and abs(sizes["val"] - 0.1 * n) <= 2 and sum(sizes.values()) == n
    share = np.bincount(p.split.y_test) / len(p.split.y_test)
    assert np.abs(share - np.bincount(raw.y) / n).max() < 0.02


def test_normalisation_fitted_on_training_split_only():
    raw = load_raw("wine", {})
    p = prepare(raw, val_fraction=0.1, test_fraction=0.2, stratify=True, normalize="standard", seed=1)
    assert np.allclose(p.split.x_train.mean(0), 0, atol=1e-5) and np.allclose(p.split.x_train.std(0), 1, atol=1e-4)
    assert not np.allclose(p.split.x_test.mean(0), 0, atol=1e-3)  # test statistics were not used
    raw_train_mean = np.asarray(p.normalizer.shift)
    assert not np.allclose(raw_train_mean, raw.x.mean(0))


def test_seeds_change_the_split():
    raw = load_raw("iris", {})
    a = prepare(raw, val_fraction=0.1, test_fraction=0.2, stratify=True, normalize="none", seed=0)
    b = prepare(raw, val_fraction=0.1, test_fraction=0.2, stratify=True, normalize="none", seed=1)
    assert not np.array_equal(a.split.x_test, b.split.x_test)


def test_duplicates_between_splits_are_counted():
    x = np.arange(40, dtype=np.float32).reshape(20, 2)
    s = Split(x[:10], np.zeros(10), x[[0, 11]], np.zeros(2), x[[1, 2, 11, 15]], np.zeros(4), False)
    d = duplicates(s)
    assert d == {"val_in_train": 1, "test_in_train": 2, "test_in_val": 1, "within_train": 0}


def test_limit_keeps_classes_balanced():
    raw = load_raw("digits", {})
    p = prepare(raw, val_fraction=0.1, test_fraction=0.1, stratify=True, normalize="standard", seed=0, limit=500)
    assert sum(p.summary["sizes"].values()) == 500
    assert min(p.summary["class_counts"]["train"]) >= 30
