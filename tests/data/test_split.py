import numpy as np
import pytest

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


def test_shares_that_leave_nothing_to_train_on_are_refused_by_name():
    import pytest

    from trainlab.core.errors import DataError
    from trainlab.data.split import split

    raw = load_raw("wine", {})
    with pytest.raises(DataError, match=r"data.val_fraction = 0.5 \+ data.test_fraction = 0.5 = 1 of the samples "
                                        "leaves none to train on"):
        split(raw, val_fraction=0.5, test_fraction=0.5, stratify=True, seed=0)
    with pytest.raises(DataError, match=r"data.val_fraction = 0.6 \+ data.calibration_fraction = 0.1 \+ the test "
                                        "fold's 1/3 = 1.03"):
        split(raw, val_fraction=0.6, test_fraction=0.1, calibration_fraction=0.1, stratify=True, seed=0, cv=(3, 0, 0))
    with pytest.raises(DataError, match="A test split stratified by class holds one sample of each class or more, "
                                        "and 0.01 of 178 samples is 2, fewer than the 3 classes: raise data.test_fraction"):
        split(raw, val_fraction=0.1, test_fraction=0.01, stratify=True, seed=0)
    s = split(raw, val_fraction=0.45, test_fraction=0.45, stratify=True, seed=0)  # 10% left: still a split
    assert len(s.x_train) and len(s.x_train) + len(s.x_val) + len(s.x_test) == len(raw.x)
    raw.x_test, raw.y_test = raw.x[:20], raw.y[:20]  # an official test set: its share is not of this data
    assert len(split(raw, val_fraction=0.5, test_fraction=0.5, stratify=True, seed=0).x_train)


def test_a_class_too_rare_to_stratify_is_named_with_its_count():
    import pytest

    from trainlab.core.errors import DataError
    from trainlab.data.split import split

    raw = load_raw("wine", {})
    raw.y = np.where(np.arange(len(raw.y)) < 2, 2, np.minimum(raw.y, 1))  # class 2 ('class_2'): 2 samples left
    with pytest.raises(DataError, match=r"Class 'class_2' \(2 samples\) has too few samples for a split stratified "
                                        r"by class, which puts every class in each of the 3 splits \(training, "
                                        r"validation, test\): 3 samples at least"):
        split(raw, val_fraction=0.1, test_fraction=0.1, stratify=True, seed=0)
    assert len(split(raw, val_fraction=0.1, test_fraction=0.1, stratify=False, seed=0).x_test) == 18
    raw.x_test, raw.y_test = raw.x[:20], raw.y[:20]  # an official test set: training and validation need one each
    assert len(split(raw, val_fraction=0.1, test_fraction=0.1, stratify=True, seed=0).x_val)


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
    d, _ = duplicates(s)
    assert d == {"val_in_train": 1, "test_in_train": 2, "test_in_val": 1, "within_train": 0, "within_test": 0}
    from trainlab.report.methods import duplicates_sentence

    assert duplicates_sentence(d) == ""
    again = Split(x[:10], np.zeros(10), x[[11]], np.zeros(1), x[[12, 12, 13, 13, 13]], np.zeros(5), False)
    d, _ = duplicates(again)
    assert d["within_test"] == 3 and duplicates_sentence(d).startswith("3 test samples repeat another test sample")


def test_limit_keeps_classes_balanced():
    raw = load_raw("digits", {})
    p = prepare(raw, val_fraction=0.1, test_fraction=0.1, stratify=True, normalize="standard", seed=0, limit=500)
    assert sum(p.summary["sizes"].values()) == 500
    assert min(p.summary["class_counts"]["train"]) >= 30
    import pytest

    from trainlab.core.errors import DataError

    with pytest.raises(DataError, match="data.limit = 5 keeps fewer samples than the 10 classes"):
        prepare(raw, val_fraction=0.1, test_fraction=0.1, stratify=True, normalize="standard", seed=0, limit=5)


def test_the_samples_a_limited_run_read_are_those_its_splits_hold_over_its_seeds():
    """samples_read: what runs with data.limit read of the data (external copies are looked for there)."""
    from trainlab.data.split import sample_hashes, samples_read, split

    raw = load_raw("digits", {})
    parts = [split(raw, val_fraction=0.1, test_fraction=0.1, stratify=True, seed=s, limit=300) for s in (0, 1)]
    held = {h for s in parts for x in (s.x_train, s.x_val, s.x_test) for h in sample_hashes(x)}
    read = samples_read(raw, 300, [0, 1], True)
    assert set(sample_hashes(read.x)) == held and 300 < len(read.x) < 600 and len(read.y) == len(read.x)
    assert samples_read(raw, 0, [0], True) is raw
    fashion = samples_read(load_raw("fashion_mnist", {}), 1000, [0], True)  # the official test set's first 1,000
    assert len(fashion.x) == 1000 and len(fashion.x_test) == len(fashion.y_test) == 1000


def test_k_fold_tests_every_sample_exactly_once():
    import pytest

    from trainlab.core.errors import DataError
    from trainlab.data.split import split

    raw = load_raw("wine", {})
    raw.x = np.arange(len(raw.x), dtype=np.float32)[:, None]  # each sample its own id
    folds = [split(raw, val_fraction=0.1, test_fraction=0.5, stratify=True, seed=7 + i, limit=150, cv=(5, i, 7))
             for i in range(5)]
    tested = np.concatenate([s.x_test[:, 0] for s in folds])
    assert len(tested) == len(set(tested)) == 150  # the same 150 samples in every fold, each tested once
    for s in folds:
        assert len(s.x_test) == 30 and abs(len(s.x_val) - 15) <= 1  # 1/5 test; validation 10% of the whole
        assert not set(s.x_test[:, 0]) & (set(s.x_train[:, 0]) | set(s.x_val[:, 0]))
        assert np.abs(np.bincount(s.y_test, minlength=3) / 30 - np.bincount(np.concatenate(
            [f.y_test for f in folds]), minlength=3) / 150).max() < 0.04  # stratified
    other = split(raw, val_fraction=0.1, test_fraction=0.5, stratify=True, seed=8, limit=150, cv=(5, 0, 8))
    assert not np.array_equal(other.x_test, folds[0].x_test)  # another seed, other folds
    fashion_like = load_raw("iris", {})
    fashion_like.x_test, fashion_like.y_test = fashion_like.x[:10], fashion_like.y[:10]
    with pytest.raises(DataError, match="official test set"):
        split(fashion_like, val_fraction=0.1, test_fraction=0.1, stratify=True, seed=0, cv=(5, 0, 0))


def _patients(path, n=60, per=8, dim=20, seed=0):
    """A table where each patient's rows share a signature and a label drawn at random per patient:
    the features say who the patient is, never what the label is."""
    rng = np.random.default_rng(seed)
    lines = ["patient," + ",".join(f"f{i}" for i in range(dim)) + ",y"]
    for p in range(n):
        signature, label = rng.normal(size=dim), rng.integers(0, 2)
        lines += [f"P{p:03d}," + ",".join(f"{v:.3f}" for v in signature + 0.3 * rng.normal(size=dim)) + f",{label}"
                  for _ in range(per)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_group_never_spans_two_splits(tmp_path):
    from trainlab.data.split import split

    raw = load_raw("table", {"path": str(_patients(tmp_path / "p.csv")), "label": "y", "group": "patient"})
    assert raw.x.shape == (480, 20) and raw.groups.max() == 59  # the group column is no feature
    for cv in (None, *((4, i, 3) for i in range(4))):
        s = split(raw, val_fraction=0.1, test_fraction=0.2, stratify=True, seed=1, cv=cv)
        tr, va, te = (set(g.tolist()) for g in s.groups)
        assert not (tr & va or tr & te or va & te) and len(tr | va | te) == 60
    tested = np.concatenate([split(raw, val_fraction=0.1, test_fraction=0.2, stratify=True, seed=3 + i,
                                   cv=(4, i, 3)).groups[2] for i in range(4)])
    assert sorted(set(tested.tolist())) == list(range(60)) and len(tested) == 480  # each patient tested in one fold
    p = prepare(raw, val_fraction=0.1, test_fraction=0.2, stratify=True, normalize="standard", seed=0)
    assert p.summary["groups"]["count"] == 60 and p.summary["groups"]["in_two_splits"] == 0


def test_splitting_by_patient_exposes_a_leak_a_random_split_hides(tmp_path):
    """The labels are random per patient. A random split puts each patient's rows on both sides, so
    the network recognises the patient and scores near 1; split by patient it is at chance."""
    import trainlab
    from tests.conftest import recipe_dict
    from trainlab.core.config import parse_recipe

    path = str(_patients(tmp_path / "p.csv"))
    acc = {}
    for group in ("", "patient"):
        r = recipe_dict(data={"name": "table", "path": path, "label": "y", "group": group,
                              "features": [f"f{i}" for i in range(20)]},
                        model={"name": "mlp", "hidden": [128]}, train={"epochs": 30, "batch_size": 32})
        run = trainlab.run(parse_recipe(r), runs_dir=tmp_path, progress=False)
        acc[group] = run.metrics["test"]["accuracy"]
    assert acc[""] > 0.9 and acc["patient"] < 0.75, acc
    row = {f"f{i}": 0.1 for i in range(20)}
    assert run.predictor.rows_to_array([{**row, "patient": "P999", "y": 1}]).shape == (1, 20)  # not inputs: ignored


def test_a_training_fraction_keeps_validation_and_test_and_nests_the_training_subsets(tmp_path):
    from trainlab.data.split import split

    raw = load_raw("digits", {})
    raw.x = np.arange(len(raw.x), dtype=np.float32)[:, None]  # each sample its own id
    whole = split(raw, val_fraction=0.1, test_fraction=0.1, stratify=True, seed=4)
    parts = [split(raw, val_fraction=0.1, test_fraction=0.1, stratify=True, seed=4, train_fraction=f)
             for f in (0.1, 0.3, 1.0)]
    ids = [set(s.x_train[:, 0].tolist()) for s in parts]
    assert ids[0] < ids[1] < ids[2] == set(whole.x_train[:, 0].tolist())  # a smaller part lies inside a larger
    for s, f in zip(parts, (0.1, 0.3, 1.0)):
        assert np.array_equal(s.x_val, whole.x_val) and np.array_equal(s.x_test, whole.x_test)
        counts, full = np.bincount(s.y_train, minlength=10), np.bincount(whole.y_train, minlength=10)
        assert np.all(np.abs(counts - f * full) <= 0.5)  # each class keeps its share
    # with groups, whole patients are taken
    raw = load_raw("table", {"path": str(_patients(tmp_path / "p.csv")), "label": "y", "group": "patient"})
    s = split(raw, val_fraction=0.1, test_fraction=0.2, stratify=True, seed=1, train_fraction=0.25)
    full = split(raw, val_fraction=0.1, test_fraction=0.2, stratify=True, seed=1)
    kept = set(s.groups[0].tolist())
    assert kept < set(full.groups[0].tolist()) and len(s.y_train) == 8 * len(kept)  # 8 rows per patient, all of them
    assert 0.25 * len(full.y_train) <= len(s.y_train) < 0.25 * len(full.y_train) + 8


def test_a_calibration_split_is_cut_from_training_and_leaves_validation_and_test_alone(tmp_path):
    import pytest

    from trainlab.core.errors import DataError
    from trainlab.data.split import split

    raw = load_raw("digits", {})
    n = len(raw.x)
    plain = prepare(raw, val_fraction=0.1, test_fraction=0.1, stratify=True, normalize="none", seed=0)
    p = prepare(raw, val_fraction=0.1, test_fraction=0.1, stratify=True, normalize="none", seed=0,
                calibration_fraction=0.1)
    sizes = p.summary["sizes"]
    assert abs(sizes["calibration"] - 0.1 * n) <= 2 and sum(sizes.values()) == n  # 70 / 10 / 10 / 10
    assert (sizes["val"], sizes["test"]) == (plain.summary["sizes"]["val"], plain.summary["sizes"]["test"])
    assert np.array_equal(p.split.y_val, plain.split.y_val) and np.array_equal(p.split.y_test, plain.split.y_test)
    share = np.bincount(p.split.y_cal, minlength=10) / sizes["calibration"]
    assert np.abs(share - np.bincount(raw.y) / n).max() < 0.02  # stratified
    rows = lambda x: {r.tobytes() for r in x}  # noqa: E731  (digits has no duplicate images)
    assert not rows(p.split.x_cal) & rows(p.split.x_train) and rows(p.split.x_cal) | rows(p.split.x_train) == \
        rows(plain.split.x_train)
    assert p.summary["class_counts"]["calibration"] == np.bincount(p.split.y_cal, minlength=10).tolist()

    grouped = load_raw("table", {"path": str(_patients(tmp_path / "p.csv")), "label": "y", "group": "patient"})
    for cv in (None, (4, 1, 3)):  # whole patients in it, with folds too
        s = split(grouped, val_fraction=0.1, test_fraction=0.2, stratify=True, seed=1, cv=cv, calibration_fraction=0.2)
        ids = [set(g.tolist()) for g in s.groups]
        assert len(ids) == 4 and sum(map(len, ids)) == len(set().union(*ids)) == 60 and len(s.y_cal) > 40
    g = prepare(grouped, val_fraction=0.1, test_fraction=0.2, stratify=True, normalize="standard", seed=0,
                calibration_fraction=0.2)
    assert g.summary["groups"]["calibration"] > 0 and g.summary["groups"]["in_two_splits"] == 0

    with pytest.raises(DataError, match="calibration"):  # nothing left to train on
        split(raw, val_fraction=0.1, test_fraction=0.1, stratify=True, seed=0, calibration_fraction=0.85)


def test_a_near_identical_picture_on_both_sides_is_found_and_a_similar_one_is_not(tmp_path):
    from tests.conftest import FASHION
    from trainlab.data.split import NEAR, near_duplicates
    from trainlab.report.methods import near_sentence

    rng = np.random.default_rng(0)
    smooth = lambda n: np.repeat(np.repeat(rng.integers(0, 256, (n, 1, 7, 7)), 4, 2), 4, 3)  # noqa: E731  (28 × 28)
    train = smooth(300).astype(np.uint8)
    touched = np.clip(train[17].astype(int) + rng.integers(-3, 4, train[17].shape), 0, 255)  # re-encoded: ± 3 levels
    similar = np.clip(train[40].astype(int) + rng.integers(-60, 61, train[40].shape), 0, 255)  # the same kind of image
    test = np.stack([smooth(1)[0], touched, train[5], similar]).astype(np.uint8)  # new, near copy, exact copy, similar
    found = near_duplicates(test, train)
    assert [(j, i, t) for j, i, _, t in found] == [(1, 17, "")] and found[0][2] >= NEAR  # the exact copy apart
    np.savez(tmp_path / "a.npz", x=train, y=np.arange(300) % 2, x_test=test, y_test=np.arange(4) % 2)
    p = prepare(load_raw("arrays", {"path": str(tmp_path / "a.npz")}), val_fraction=0.1, test_fraction=0.1,
                stratify=True, normalize="minmax", seed=0)
    near = p.summary["near_duplicates"]
    assert near["test_in_train"] == 1 and near["pairs"][0]["sample"] == 1  # (train[17] trains with seed 0)
    assert near["pairs"][0]["test_image"] == touched.tolist() and near["pairs"][0]["train_image"] == train[17].tolist()
    assert near_sentence({"test_in_train": 1, "threshold": NEAR}).startswith("1 test image has a near-identical training")
    assert p.summary["duplicates"]["test_in_train"] + p.summary["duplicates"]["test_in_val"] == 1

    photos = rng.integers(0, 256, (12, 3, 300, 500)).astype(np.uint8)  # large colour images: compared at 60 × 62
    copy = np.clip(photos[2].astype(int) + rng.integers(-2, 3, photos[2].shape), 0, 255).astype(np.uint8)
    assert [(j, i) for j, i, *_ in near_duplicates(np.stack([copy, photos[5]]), photos)] == [(0, 2)]
    if FASHION.is_dir():  # the real thing: Fashion-MNIST's official test set holds 16 pictures of its training set
        raw = load_raw("fashion_mnist", {})
        real = near_duplicates(raw.x_test, raw.x)
        assert len(real) == 16 and (4998, 13360, "") in [(j, i, t) for j, i, _, t in real]  # none mirrored
        assert all(raw.y_test[j] == raw.y[i] and not t for j, i, _, t in real)  # each twin has its twin's label


def test_a_picture_mirrored_or_rotated_before_the_split_is_a_near_duplicate_named_by_what_turned_it(tmp_path):
    """Augmenting before splitting puts flipped and rotated copies of training images in the test set."""
    from trainlab.data.split import near_duplicates
    from trainlab.report.methods import near_sentence

    rng = np.random.default_rng(1)
    train = np.repeat(np.repeat(rng.integers(0, 256, (200, 1, 7, 7)), 4, 2), 4, 3).astype(np.uint8)  # 28 × 28
    symmetric = np.concatenate([train[9][..., :14], train[9][..., :14][..., ::-1]], -1)  # its own mirror image
    train[9] = symmetric
    test = np.stack([train[3][..., ::-1], np.rot90(train[4], 1, (-2, -1)), np.rot90(train[5], -1, (-2, -1)),
                     train[6][..., ::-1, ::-1], train[7].swapaxes(-2, -1), np.clip(symmetric.astype(int) + 2, 0, 255),
                     train[8][..., ::-1, :]]).astype(np.uint8)
    found = {j: (i, t) for j, i, _, t in near_duplicates(test, train)}
    assert found == {0: (3, "mirrored left-right"), 1: (4, "rotated 90°"), 2: (5, "rotated 270°"),
                     3: (6, "rotated 180°"), 4: (7, "transposed"), 5: (9, ""), 6: (8, "mirrored top-bottom")}
    wide = np.repeat(train, 2, -1)  # 28 × 56: mirrored or turned half round (a quarter turn changes the shape)
    assert [(j, t) for j, _, _, t in near_duplicates(np.stack([wide[3][..., ::-1], wide[4][..., ::-1, ::-1]]), wide)] \
        == [(0, "mirrored left-right"), (1, "rotated 180°")]

    np.savez(tmp_path / "a.npz", x=train, y=np.arange(200) % 2, x_test=test[:2], y_test=np.arange(2) % 2)
    near = prepare(load_raw("arrays", {"path": str(tmp_path / "a.npz")}), val_fraction=0.1, test_fraction=0.1,
                   stratify=True, normalize="none", seed=0).summary["near_duplicates"]
    assert near["test_in_train"] == 2 and near["transformed"] == {"mirrored left-right": 1, "rotated 90°": 1}  # (both train)
    assert [p["transform"] for p in near["pairs"]] == ["mirrored left-right", "rotated 90°"]
    assert near_sentence(near).endswith("2 of them are a training image mirrored, rotated or shifted by up to 3 pixels "
                                        "(mirrored left-right: 1, rotated 90°: 1), as copies augmented before the split "
                                        "would be.")


def _moved(a: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """a (..., H, W) moved dy pixels down and dx right, zeros where it uncovers (a crop of a padded copy)."""
    out, (h, w) = np.zeros_like(a), a.shape[-2:]
    out[..., max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        a[..., max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


def test_a_picture_shifted_by_a_few_pixels_before_the_split_is_a_near_duplicate_compared_where_the_two_overlap(tmp_path):
    """A random crop of a padded copy, made before splitting, is the training image moved by a few pixels."""
    from trainlab.data.split import largest_shift, near_duplicates
    from trainlab.report.methods import near_sentence

    rng = np.random.default_rng(2)
    train = np.repeat(np.repeat(rng.integers(0, 256, (200, 1, 7, 7)), 4, 2), 4, 3).astype(np.uint8)  # 28 × 28
    impostor = _moved(train[5], 1, 0)  # the same middle, another picture 2 pixels from its edge
    impostor[..., 1:3, :] = rng.integers(0, 256, impostor[..., 1:3, :].shape)
    test = np.stack([_moved(train[3], 2, -1), np.roll(train[4], 3, -1), impostor, _moved(train[6], 0, 1),
                     _moved(train[8][..., ::-1], 1, 2)])  # the last one flipped, then cropped
    test[3] = np.clip(test[3].astype(int) + rng.integers(-2, 3, test[3].shape), 0, 255)  # and re-encoded
    found = {j: (i, t, c) for j, i, c, t in near_duplicates(test, train)}
    assert {j: f[:2] for j, f in found.items()} == {0: (3, "shifted 2 px down, 1 px left"), 1: (4, "shifted 3 px right"),
                                                    3: (6, "shifted 1 px right"),
                                                    4: (8, "mirrored left-right and shifted 1 px down, 2 px right")}
    assert found[0][2] == pytest.approx(1.0) and found[1][2] == pytest.approx(1.0) and 0.995 <= found[3][2] < 0.9999

    colour = rng.integers(0, 256, (50, 3, 8, 8)).repeat(4, 2).repeat(4, 3).astype(np.uint8)  # CIFAR's 3 × 32 × 32
    assert [(j, i, t) for j, i, _, t in near_duplicates(_moved(colour[[7]], -4, 4), colour)] == \
        [(0, 7, "shifted 4 px up, 4 px right")]
    assert (largest_shift(28, 28), largest_shift(32, 32), largest_shift(16, 12), largest_shift(80, 80)) == (3, 4, 1, 0)

    np.savez(tmp_path / "a.npz", x=train, y=np.arange(200) % 2, x_test=test[[0, 1, 4]], y_test=np.arange(3) % 2)
    near = prepare(load_raw("arrays", {"path": str(tmp_path / "a.npz")}), val_fraction=0.1, test_fraction=0.1,
                   stratify=True, normalize="none", seed=0).summary["near_duplicates"]
    assert near["test_in_train"] == 3 and near["transformed"] == {"shifted": 3} and near["largest_shift"] == 3
    assert near_sentence(near).endswith("(shifted: 3), as copies augmented before the split would be.")


def test_a_text_posted_twice_with_other_spacing_or_case_is_a_near_duplicate(tmp_path):
    from trainlab.data.split import near_texts
    from trainlab.report.methods import near_sentence

    train = np.array(["A fine film.", "Dull, dull, dull!", "I laughed all the way home"])
    test = np.array(["a fine   FILM", "Dull, dull, dull!", "I laughed all the way", "dull dull dull"])
    assert near_texts(test, train) == [(0, 0, 1.0, ""), (3, 1, 1.0, "")]  # the exact copy is counted apart
    rows = [("text", "label"), *((t, "pos" if i % 2 else "neg") for i, t in enumerate(
        [f"review number {i} says it is {'good' if i % 2 else 'bad'}" for i in range(60)]))]
    rows.append(("Review number 3 says it is GOOD!", "pos"))  # the same words as row 3, in the test set or not
    import csv

    with open(tmp_path / "r.csv", "w", newline="") as f:
        csv.writer(f).writerows(rows)
    raw = load_raw("text_table", {"path": str(tmp_path / "r.csv")})
    counts = [prepare(raw, val_fraction=0.1, test_fraction=0.2, stratify=True, normalize="none", seed=seed)
              .summary["near_duplicates"] for seed in range(6)]
    assert {c["kind"] for c in counts} == {"text"} and max(c["test_in_train"] for c in counts) == 1
    hit = next(c for c in counts if c["test_in_train"])
    assert {hit["pairs"][0]["test_text"], hit["pairs"][0]["train_text"]} == {rows[4][0], rows[-1][0]}
    assert near_sentence(hit).startswith("1 test text has a near-identical training text (the same words")


def test_inputs_that_recur_with_another_label_are_counted_and_said(tmp_path):
    """The same measurements under two labels: no model gets both right (a labelling error, or inputs that do
    not decide the class)."""
    from trainlab.report.methods import duplicates_sentence

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(200, 3)).round(3), np.arange(200) % 2
    x[150:156], y[150:156] = x[0:6], 1 - y[0:6]  # six rows copied with the other label
    x[160:163], y[160:163] = x[10:13], y[10:13]  # three copied with their own label: duplicates, no conflict
    np.savez(tmp_path / "a.npz", x=x, y=y)
    p = prepare(load_raw("arrays", {"path": str(tmp_path / "a.npz")}), val_fraction=0.1, test_fraction=0.2,
                stratify=True, normalize="standard", seed=0)
    d = p.summary["duplicates"]
    assert d["conflicting_labels"] == 12 and 0 <= d["test_conflicting"] <= 12
    assert duplicates_sentence(d).startswith(f"12 samples share their inputs, byte for byte, with a sample of another "
                                           f"label ({d['test_conflicting']} of them in the test set)")
    assert duplicates_sentence({"conflicting_labels": 0}) == ""
    with_cal = prepare(load_raw("arrays", {"path": str(tmp_path / "a.npz")}), val_fraction=0.1, test_fraction=0.2,
                       stratify=True, normalize="standard", seed=0, calibration_fraction=0.2)
    assert with_cal.summary["duplicates"]["conflicting_labels"] == 12  # the calibration split's samples counted too
    np.savez(tmp_path / "r.npz", x=x, y=y + rng.normal(size=200))  # values: the same inputs may give others
    r = prepare(load_raw("arrays", {"path": str(tmp_path / "r.npz")}), val_fraction=0.1, test_fraction=0.2,
                stratify=False, normalize="standard", seed=0)
    assert "conflicting_labels" not in r.summary["duplicates"]
    import trainlab
    from trainlab.core.config import parse_recipe
    from trainlab.report.methods import methods_text
    from tests.conftest import recipe_dict

    run = trainlab.run(parse_recipe(recipe_dict(data={"name": "arrays", "path": str(tmp_path / "a.npz")},
                                                train={"epochs": 2})), runs_dir=tmp_path / "runs", progress=False)
    said = duplicates_sentence(run.metrics["data"]["duplicates"])  # (its own split: 80/10/10)
    assert said.startswith("12 samples share") and said in " ".join(methods_text(run.recipe, run.metrics, {}))
