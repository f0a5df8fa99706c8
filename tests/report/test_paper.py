"""`trainlab paper RUN`: the report's figures as vector files, the results table as CSV and LaTeX, the
methods text, all from the run's own numbers."""
import csv

import pytest

import trainlab
from trainlab.report.paper import write_paper


@pytest.fixture(scope="module")
def repeated(tmp_path_factory):
    """Digits, an MLP, 2 split seeds, with baselines: every column the table can have."""
    from tests.cli.test_cli import SMALL

    d = tmp_path_factory.mktemp("paper")
    (d / "r.toml").write_text(SMALL.format(epochs=4, batch=64).replace("baselines = false", "baselines = true")
                              + "[report]\ninterpret = false\n")
    return trainlab.run(d / "r.toml", repeats=2, runs_dir=d / "runs", progress=False)


def test_figures_tables_and_methods_are_written_from_the_run(repeated):
    r = repeated
    files = write_paper(r.path, r.recipe, r.metrics, {}, "svg")
    out = r.path / "paper"
    figures = {f.stem for f in files if f.parent.name == "figures"}
    assert {"learning", "confusion", "pr", "reliability", "repeats"} <= figures
    assert (out / "figures" / "learning.svg").read_text().lstrip().startswith("<?xml") \
        and "<svg" in (out / "figures" / "confusion.svg").read_text()
    rows = {row["metric"]: row for row in csv.DictReader(open(out / "results.csv"))}
    acc, rep = rows["accuracy"], r.metrics["repeats"]["test"]["accuracy"]
    assert float(acc["value"]) == r.metrics["test"]["accuracy"] and float(acc["mean"]) == pytest.approx(rep["mean"])
    assert [float(acc["ci95_low"]), float(acc["ci95_high"])] == pytest.approx(rep["ci95"])
    lr = r.metrics["repeats"]["baselines"]["logistic regression"]["accuracy"]
    assert float(acc["logistic regression"]) == pytest.approx(lr["mean"])
    assert float(acc["logistic regression std"]) == pytest.approx(lr["std"])
    tex = (out / "results.tex").read_text()
    assert "\\toprule" in tex and "over 2 split seeds" in tex and "logistic regression" in tex
    assert f"accuracy & {r.metrics['test']['accuracy']:.4f} & {rep['mean']:.4f} $\\pm$ {rep['std']:.4f}" in tex
    assert (out / "methods.txt").read_text().startswith("Data: scikit-learn digits")


def test_the_cli_writes_pdf_figures_and_refuses_an_unknown_format(repeated):
    from tests.cli.test_cli import cli_here

    r = cli_here("paper", repeated.path)
    assert r.returncode == 0, r.stderr
    assert "figures (learning, confusion" in r.stdout
    assert (repeated.path / "paper" / "figures" / "learning.pdf").read_bytes().startswith(b"%PDF")
    bad = cli_here("paper", repeated.path, "--format", "eps")
    assert bad.returncode == 2 and "figures are written as pdf, svg, png" in bad.stderr
