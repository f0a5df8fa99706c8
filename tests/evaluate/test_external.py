"""trainlab evaluate: a run's best model on labelled data from elsewhere."""
import csv
import shutil

import numpy as np
import pytest

from tests.cli.test_cli import cli_here
from tests.conftest import write_mnist_folder
from trainlab.core.errors import DataError
from trainlab.evaluate.external import evaluate_external


def _png_folders(root, x, y, names):
    from PIL import Image

    for i, (image, c) in enumerate(zip(x, y)):
        (root / names[c]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(root / names[c] / f"{i}.png")
    return root


def test_the_run_s_own_test_images_as_png_folders_score_as_its_test_did(image_run, tmp_path):
    """The run's official test images written as PNG files in class folders: read by the image-folder
    reader at the run's size, matched to the run's classes by name, preprocessed with the stored
    statistics, they get the run's own test predictions back, and are found to be the run's samples."""
    from trainlab.data.datasets import DATASETS

    raw = DATASETS.get("mnist_folder").build(path=image_run.recipe.data.params["path"])
    ext = evaluate_external(image_run.path, _png_folders(tmp_path / "png", raw.x_test, raw.y_test, raw.class_names))
    with np.load(image_run.path / "test_predictions.npz") as d:
        accuracy = float((d["true"] == d["pred"]).mean())
    assert ext["samples"] == 60 and ext["copies"] == 60  # every one of them is a sample the run read
    row = ext["rows"][0]
    assert row["metric"] == "accuracy" and row["external"] == pytest.approx(accuracy) == row["run"]
    assert row["test"]["p_value"] == pytest.approx(1.0) and row["external_interval"][0] <= accuracy
    assert (image_run.path / "external" / "png.json").is_file()


def test_an_external_folder_in_the_run_s_layout_that_is_darker_is_said_to_differ(image_run, tmp_path):
    """Another MNIST-format folder (the same kind of images, drawn anew), and the same darkened: both read
    by the run's own dataset with its path swapped; the darker one's inputs differ from the run's."""
    alike = write_mnist_folder(tmp_path / "alike", n_train=100, n_test=40, seed=5)
    ext = evaluate_external(image_run.path, alike)
    assert ext["samples"] == 140 and ext["copies"] == 0 and ext["rows"][0]["external"] > 0.9
    assert not ext["shift"]["differ"] and not ext["shift"]["classes"]["differ"]
    from trainlab.data.datasets import DATASETS
    from tests.conftest import write_idx

    raw = DATASETS.get("mnist_folder").build(path=str(alike))
    dark = tmp_path / "dark"
    dark.mkdir()
    for prefix, x, y in (("train", raw.x, raw.y), ("t10k", raw.x_test, raw.y_test)):
        write_idx(dark / f"{prefix}-images-idx3-ubyte", (x * 0.5).astype(np.uint8))
        write_idx(dark / f"{prefix}-labels-idx1-ubyte", y)
    shifted = evaluate_external(image_run.path, dark)
    assert shifted["shift"]["differ"] and shifted["shift"]["auc"] > 0.9
    assert shifted["shift"]["pixels"]["test_mean"] < 0.6 * shifted["shift"]["pixels"]["train_mean"]
    from trainlab.report.methods import external_sentences

    said = external_sentences({**shifted, "name": "dark"})
    assert said[0][0].startswith("On dark (140 samples), accuracy ") and said[-1][1]  # the shift warns
    assert said[-1][0].startswith("The external inputs differ from the run's inputs: a linear classifier")


def test_a_table_from_elsewhere_is_read_in_the_run_s_columns_and_its_bad_cells_named(tmp_path):
    """A CSV run with a category; the external table has its columns in another order, an identifier
    column, and not every category: it is scored as the predictor scores its rows. A category or a class
    training never saw is an error naming it."""
    import trainlab
    from trainlab.core.config import parse_recipe
    from trainlab.serve.predictor import Predictor
    from tests.conftest import recipe_dict

    rng = np.random.default_rng(0)

    def rows(n, shift=0.0):
        out = []
        for i in range(n):
            site, a, b = rng.choice(["north", "south", "east"]), rng.normal(shift), rng.normal()
            out.append({"id": f"R{i}", "site": site, "a": f"{a:.4f}", "b": f"{b:.4f}",
                        "y": "high" if a + b + (site == "north") > 0.5 else "low"})
        return out

    def write(path, data, columns):
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, columns, extrasaction="ignore")
            w.writeheader()
            w.writerows(data)
        return path

    mine = rows(400)
    write(tmp_path / "mine.csv", mine, ["a", "b", "site", "y"])
    r = trainlab.run(parse_recipe(recipe_dict(data={"name": "table", "path": str(tmp_path / "mine.csv"), "label": "y"},
                                              train={"epochs": 30})), runs_dir=tmp_path, progress=False)
    theirs = [row for row in rows(300, shift=1.5) if row["site"] != "east"]
    f = write(tmp_path / "theirs.csv", theirs, ["id", "y", "b", "site", "a"])
    ext = evaluate_external(r.path, f)
    p = Predictor(r.path)
    got = p.predict(p.rows_to_array([{k: v for k, v in row.items() if k not in ("id", "y")} for row in theirs]))
    accuracy = np.mean([g == row["y"] for g, row in zip(got["predicted"], theirs)])
    assert ext["samples"] == len(theirs) and ext["rows"][0]["external"] == pytest.approx(accuracy)
    assert ext["copies"] == 0 and ext["shift"]["differ"] and ext["shift"]["columns"][0]["feature"] == "a"
    mixed = evaluate_external(r.path, write(tmp_path / "mixed.csv", mine[:50] + theirs, ["id", "y", "b", "site", "a"]))
    clean = mixed["without_copies"]  # the 50 rows the run read, left out: the score on the others alone
    assert mixed["copies"] == 50 and clean["samples"] == len(theirs)
    assert clean["rows"][0]["external"] == pytest.approx(ext["rows"][0]["external"])
    from trainlab.report.methods import external_sentences

    said = " ".join(t for t, _ in external_sentences({**mixed, "name": "mixed"}))
    assert f"50 of the {len(theirs) + 50} external samples are exact copies" in said and \
        f"Without them ({len(theirs)} samples), accuracy is {ext['rows'][0]['external']:.4f}" in said
    write(tmp_path / "west.csv", [{**theirs[0], "site": "west"}, *theirs[1:]], ["a", "b", "site", "y"])
    with pytest.raises(DataError, match=r"column 'site': 'west' \(1 row\) is not one of the categories seen in "
                                        r"training \('east', 'north', 'south'\)"):
        evaluate_external(r.path, tmp_path / "west.csv")
    write(tmp_path / "medium.csv", [{**theirs[0], "y": "medium"}, *theirs[1:]], ["a", "b", "site", "y"])
    with pytest.raises(DataError, match=r"class 'medium' \(1 sample\) is not one the run was trained on"):
        evaluate_external(r.path, tmp_path / "medium.csv")


def test_the_cli_scores_a_bundled_set_s_run_on_a_csv_and_the_report_shows_it(table_run, tmp_path):
    """A run on scikit-learn's iris, which has no files to swap: a CSV of iris rows (its label named with
    --label) is read as a table in the run's columns; the CLI prints both scores and regenerates the
    report with an external section."""
    from sklearn.datasets import load_iris

    run = tmp_path / "run"
    shutil.copytree(table_run.path, run)
    iris = load_iris()
    with open(tmp_path / "iris.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([*iris.feature_names, "species"])
        w.writerows([*row, iris.target_names[t]] for row, t in zip(iris.data[::3], iris.target[::3]))
    proc = cli_here("evaluate", run, tmp_path / "iris.csv")
    assert proc.returncode == 2 and "which column holds the labels? Say it with --label." in proc.stderr
    (run / "report.html").write_text("")  # a run whose report exists gets it written again
    proc = cli_here("evaluate", run, tmp_path / "iris.csv", "--label", "species", "--name", "iris-b")
    assert proc.returncode == 0, proc.stderr
    assert "iris-b: 50 external samples" in proc.stdout and "50 of the 50 external samples are exact copies" in proc.stdout
    html = (run / "report.html").read_text()
    assert "External test sets: does it carry over?" in html and "iris-b: 50 samples" in html
    said = cli_here("show", run, "--methods").stdout  # and the results paragraphs, for a paper
    assert "External test: the best model was scored on data from elsewhere (trainlab evaluate). On iris-b (50 " \
           "samples), read and preprocessed as the development data, accuracy was " in said
    assert "50 of its samples were exact copies of development samples." in said


def test_reviews_from_elsewhere_with_other_words_and_patients_with_other_targets_are_said_to_differ(tmp_path):
    """The shift check reads texts (which words, how long) and a regression's targets too: reviews that
    use adjectives the run never read differ, and a regression's external targets from another range
    are said to, with what that does to R²."""
    import trainlab
    from trainlab.core.config import parse_recipe
    from trainlab.data.datasets import sentiment_demo
    from trainlab.report.methods import external_sentences
    from tests.conftest import recipe_dict

    def write(path, header, rows):
        with open(path, "w", newline="") as f:
            csv.writer(f).writerows([header, *rows])
        return path

    raw = sentiment_demo(n=500, unseen_words=True)
    labels = np.array(raw.class_names)
    mine = write(tmp_path / "mine.csv", ["text", "label"], zip(raw.x, labels[raw.y]))
    r = trainlab.run(parse_recipe(recipe_dict(data={"name": "text_table", "path": str(mine), "max_len": 24},
                                              model={"name": "rnn", "cell": "gru", "embed": 16, "hidden": 16},
                                              train={"epochs": 2, "batch_size": 32})), runs_dir=tmp_path, progress=False)
    unseen = evaluate_external(r.path, write(tmp_path / "unseen.csv", ["text", "label"],
                                             zip(raw.x_test, labels[raw.y_test])))
    s = unseen["shift"]
    assert unseen["samples"] == len(raw.x_test) and s["differ"] and s["words"][0]["train_share"] == 0.0
    assert not s["classes"]["differ"]
    said = external_sentences({**unseen, "name": "unseen"})
    assert any(t.startswith("The external inputs differ from the run's inputs: a linear classifier") and
               "of the texts in the run's data, " in t and warn for t, warn in said)

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=400), rng.normal(size=400)
    table = write(tmp_path / "t.csv", ["a", "b", "y"], zip(a, b, 3 * a + b + rng.normal(0, 0.1, 400)))
    r = trainlab.run(parse_recipe(recipe_dict(data={"name": "table", "path": str(table), "label": "y"},
                                              train={"epochs": 20})), runs_dir=tmp_path, progress=False)
    far = evaluate_external(r.path, write(tmp_path / "far.csv", ["a", "b", "y"], zip(a[:200] + 2, b[:200], 3 * a[:200]
                                                                                      + 6 + b[:200])))
    t = far["shift"]["targets"]
    assert t["differ"] and t["most_changed"]["test_mean"] > t["most_changed"]["train_mean"] + 5
    said = " ".join(s for s, _ in external_sentences({**far, "name": "far"}))
    assert "The external set's targets come from another distribution than in the run's data (Kolmogorov-Smirnov D" \
           in said and "compare the absolute errors too" in said
