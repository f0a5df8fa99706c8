"""Data without a recipe: trainlab.starter picks the dataset entry and a model for a table, texts,
arrays or a folder of images, says why, and the run trains on it."""
import csv
import json
import re

import numpy as np
import pytest
from PIL import Image

import trainlab
from trainlab.core.errors import DataError, TrainlabError
from trainlab.starter import starter_recipe


def _tumours(path, label="diagnosis", note=False, gaps=False):
    """scikit-learn's breast-cancer table as a user's CSV: class names as text, optionally a free-text
    column and missing cells."""
    from sklearn.datasets import load_breast_cancer

    b = load_breast_cancer()
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([*b.feature_names, *(["note"] if note else []), label])
        for i, (x, y) in enumerate(zip(b.data, b.target)):
            cells = [("NA" if gaps and i % 17 == 0 and j == 0 else f"{v:.6g}") for j, v in enumerate(x)]
            w.writerow([*cells, *([f"seen at the clinic on visit number {i}"] if note else []), b.target_names[y]])
    return path


def test_a_csv_trains_without_a_recipe(tmp_path):
    r = trainlab.run(_tumours(tmp_path / "tumours.csv"), ["train.epochs=60"], label="diagnosis",
                     runs_dir=tmp_path / "runs", progress=False)
    assert r.recipe.data.name == "table" and r.recipe.data.params["label"] == "diagnosis" and r.recipe.model.name == "mlp"
    assert list(r.metrics["spec"]["class_names"]) == ["benign", "malignant"]
    assert r.metrics["test"]["accuracy"] > 0.9 > r.metrics["baselines"]["models"]["majority class"]["accuracy"]
    majority = r.metrics["baselines"]["models"]["majority class"]
    assert majority["mcc"] == majority["cohen_kappa"] == 0.0 < 0.8 < r.metrics["test"]["mcc"]  # unlike its accuracy
    stored = trainlab.load_recipe(r.path / "recipe.toml")  # what the run used, to edit and run again
    assert stored.data.params["path"] == str(tmp_path / "tumours.csv")


def test_a_table_gets_its_label_by_name_free_text_left_out_and_gaps_filled(tmp_path):
    d, notes = starter_recipe(_tumours(tmp_path / "t.csv", label="target", note=True, gaps=True))
    assert d["data"]["label"] == "target" and "note" not in d["data"]["features"] and len(d["data"]["features"]) == 30
    assert d["data"]["missing"] == "median"
    said = " ".join(notes)
    assert "label column 'target' (taken by its name" in said and "'note' left out: free text" in said
    assert "569 rows" in said and "--folds 5" in said and "'target' holds 2 classes: classification" in said
    from sklearn.datasets import load_diabetes

    b = load_diabetes()
    with open(tmp_path / "d.csv", "w", newline="") as f:
        csv.writer(f).writerows([[*b.feature_names, "progression"], *([*x, y] for x, y in zip(b.data, b.target))])
    assert "'progression' holds 214 different numbers: regression" in " ".join(starter_recipe(tmp_path / "d.csv",
                                                                                                  "progression")[1])
    with pytest.raises(DataError, match=re.escape("Which column of") + ".*--label; the columns are mean radius"):
        starter_recipe(_tumours(tmp_path / "u.csv"))
    (tmp_path / "one.csv").write_text("a,b,y\n1,2,x\n3,4,x\n")  # a label of one value, a table of no rows
    with pytest.raises(DataError, match="column 'y' holds one value only \\('x'\\) in 2 rows: nothing to learn"):
        starter_recipe(tmp_path / "one.csv", "y")
    (tmp_path / "none.csv").write_text("a,b,y\n")
    with pytest.raises(DataError, match="column 'y' holds no values: the table has no data rows"):
        starter_recipe(tmp_path / "none.csv", "y")


def test_identifiers_are_left_out_and_a_patient_column_splits_by_patient(tmp_path):
    """A user's table as it comes: a row number (pandas' unnamed index), a sample id on every row, a
    patient id shared by that patient's samples, a site name with too many values to be a category,
    the rows in label order; and measurements whose names merely end in "id" or whose values differ on
    every row. The identifiers leave the features, the patient column becomes data.group."""
    from sklearn.datasets import load_breast_cancer

    b = load_breast_cancer()
    order = np.argsort(b.target, kind="stable")  # sorted by label: a row number would predict it
    with open(tmp_path / "p.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Unnamed: 0", "sample id", "PatientID", "site", "fluid", "radius", "Sex", "scanner", "diagnosis"])
        for r, i in enumerate(order):
            w.writerow([r, f"S{i:04d}", f"P{r // 3:03d}", f"site {i % 150}", f"{b.data[i, 1]:.3f}", f"{b.data[i, 0]:.4f}",
                        "FM"[(r // 3) % 2], "XR-2", b.target_names[b.target[i]]])
    d, notes = starter_recipe(tmp_path / "p.csv", "diagnosis")
    said = " ".join(notes)
    assert d["data"]["features"] == ["fluid", "radius", "Sex"] and d["data"]["group"] == "PatientID"
    assert d["data"]["subgroups"] == ["Sex"] and "test metrics also by 'Sex' (data.subgroups)" in " ".join(notes)
    assert "columns 'Unnamed: 0', 'sample id' left out: an identifier, a different value on every row" in said
    assert "column 'PatientID' names 190 groups of rows" in said and "new PatientIDs, not recognised ones" in said
    assert "column 'site' left out: 150 different texts, too many to one-hot" in said
    assert "column 'scanner' left out: the same cell (XR-2) on every row: nothing to learn from" in said
    r = trainlab.run(tmp_path / "p.csv", ["train.epochs=5"], label="diagnosis", runs_dir=tmp_path / "runs",
                     progress=False)
    groups = r.metrics["data"]["groups"]
    assert groups["count"] == 190 and groups["in_two_splits"] == 0
    assert list(r.metrics["spec"]["feature_names"]) == ["fluid", "radius", "Sex=F", "Sex=M"]
    assert [row["value"] for row in r.metrics["subgroups"]["by"]["Sex"]["rows"]] == ["F", "M"]
    x, names = r.predictor.read_files([tmp_path / "p.csv"])  # new rows in the training table's shape
    assert x.shape == (569, 4) and names[0] == f"p.csv:2 (S{order[0]:04d})"  # named by their sample id
    assert r.predictor.ignored_columns == {str(tmp_path / "p.csv"): ["Unnamed: 0", "sample id", "site", "scanner"]}
    assert r.predictor.labelled == [str(tmp_path / "p.csv")]  # its labels: trainlab evaluate would score them
    import os
    import threading

    read, write = os.pipe()  # the same rows through a pipe, as `trainlab predict RUN <(command)` gives them
    feed = threading.Thread(target=lambda: (os.write(write, (tmp_path / "p.csv").read_bytes()), os.close(write)))
    feed.start()
    piped, piped_names = r.predictor.read_files([f"/dev/fd/{read}"])
    feed.join()
    os.close(read)
    assert np.array_equal(piped, x) and piped_names[0] == f"{read}:2 (S{order[0]:04d})"
    assert r.predictor.labelled == []  # a pipe is read once: no hint to evaluate it
    (tmp_path / "rows.csv").write_text("\n".join((tmp_path / "p.csv").read_text().splitlines()[1:4]))
    with pytest.raises(DataError, match=r"rows.csv: its first line \(0, S\d{4}, P000, site \d+, \.\.\.\) names none "
                                        r"of the model's input columns \(fluid, radius, Sex\); a CSV file starts"):
        r.predictor.read_files([tmp_path / "rows.csv"])  # rows without their header line (as `grep` passes them)
    with open(tmp_path / "ids.csv", "w", newline="") as f:
        csv.writer(f).writerows([["id", "y"], *([i, i % 2] for i in range(30))])
    with pytest.raises(DataError, match="no column is left to learn 'y' from \\('id' is left out\\)"):
        starter_recipe(tmp_path / "ids.csv")


def test_texts_arrays_and_image_folders_get_their_reader_and_a_model(tmp_path):
    with open(tmp_path / "reviews.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["review", "stars"])
        w.writerows([[f"the film number {i} was {'great' if i % 2 else 'dull'} and long", i % 2] for i in range(50)])
    d, _ = starter_recipe(tmp_path / "reviews.csv", "stars")
    assert (d["data"]["name"], d["data"]["text"], d["model"]["name"]) == ("text_table", "review", "rnn")
    np.savez(tmp_path / "a.npz", x=np.zeros((10, 4, 4, 3), np.uint8), y=np.arange(10) % 2)
    assert starter_recipe(tmp_path / "a.npz")[0]["model"]["name"] == "convnet"
    np.savez(tmp_path / "b.npz", x=np.zeros((10, 7)), y=np.arange(10) % 2)
    assert starter_recipe(tmp_path / "b.npz")[0]["model"]["name"] == "mlp"
    np.savez(tmp_path / "c.npz", inputs=np.zeros((10, 7)))
    with pytest.raises(DataError, match="inputs named x and labels named y"):
        starter_recipe(tmp_path / "c.npz")
    for c, size in (("cat", 20), ("dog", 24)):  # grey images of two sizes
        (tmp_path / "pets" / c).mkdir(parents=True)
        Image.fromarray(np.zeros((size, size), np.uint8)).save(tmp_path / "pets" / c / "1.png")
    d, notes = starter_recipe(tmp_path / "pets")
    assert (d["data"]["name"], d["data"]["channels"], d["data"]["size"]) == ("image_folder", 1, 24)
    assert "images of 2 sizes (smallest sides 20 to 24), resized to 24×24" in " ".join(notes)
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.docx").write_text("x")
    for bad, message in (("empty", "without class sub-folders"), ("notes.docx", "write a dataset plugin"),
                         ("nowhere.csv", "does not exist")):
        with pytest.raises(DataError, match=message):
            starter_recipe(tmp_path / bad)
    with pytest.raises(TrainlabError, match="label = 'y' is for data without a recipe"):
        trainlab.run(tmp_path / "r.toml", label="y")


def test_the_cli_runs_data_and_writes_a_starter_recipe(tmp_path):
    from tests.cli.test_cli import cli_here

    data = _tumours(tmp_path / "tumours.csv")
    out = cli_here("recipe", "new", data, "--label", "diagnosis", "--out", tmp_path / "mine.toml")
    assert out.returncode == 0, out.stderr
    text = (tmp_path / "mine.toml").read_text()
    assert text.startswith("# 'diagnosis' holds 2 classes: classification\n# 569 rows") and 'label = "diagnosis"' in text
    out = cli_here("run", tmp_path / "mine.toml", "--set", "train.epochs=3", "-q", "--runs-dir", tmp_path / "runs")
    assert out.returncode == 0, out.stderr
    out = cli_here("run", data, "--label", "nope", "-q", "--runs-dir", tmp_path / "runs")
    assert out.returncode == 2 and "has no column 'nope'" in out.stderr
    assert json.loads(next((tmp_path / "runs").glob("tumours-*/run.json")).read_text())["status"] == "finished"


def test_a_six_row_table_of_measurements_regresses_and_is_told_its_test_set_is_too_small(tmp_path):
    """Fractional labels are values, however few; one test sample has no R² (NaN, as scikit-learn's), no
    verdict against the baselines, and a warning that points to --folds."""
    from trainlab.report.methods import baseline_verdict, small_test

    (tmp_path / "reg.csv").write_text("a,t\n" + "".join(f"{i},{1.5 * i + 0.1:.1f}\n" for i in range(6)))
    r = trainlab.run(tmp_path / "reg.csv", ["train.epochs=5"], label="t", runs_dir=tmp_path / "runs", progress=False)
    assert r.metrics["spec"]["target"] == "real" and r.metrics["data"]["sizes"]["test"] == 1
    assert np.isnan(r.metrics["test"]["r2"]) and baseline_verdict(r.metrics) is None
    said = small_test(r.metrics)
    assert said.startswith("Only 1 test sample: every test score rests on it") and "--folds" in said
    assert said in (r.path / "report.html").read_text()
    assert small_test({"data": {"sizes": {"test": 30}}, "spec": {"target": "real"}}) == ""
    assert small_test({"data": {"sizes": {"test": 9}}, "spec": {"target": "real"}, "repeats": {"folds": 5}}) == ""
    assert small_test({"data": {"sizes": {"test": 8}}, "spec": {"target": "mask"}}) == ""  # 8 microscope images
