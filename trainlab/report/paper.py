"""A run's results as files to put in a paper: every figure of its report as PDF, SVG or PNG
(figures/), the results table as CSV (numbers) and LaTeX (booktabs), and the methods and results
paragraphs as text (paper/ in the run directory)."""
from __future__ import annotations

import base64
import csv
import re
from pathlib import Path

from . import results_records, results_table

FORMATS = ("pdf", "svg", "png")
EXTENSION = {"image/png": "png", "image/svg+xml": "svg", "application/pdf": "pdf", "image/gif": "gif"}
FOLDER = "paper"


def write_paper(path: Path, recipe, metrics: dict, env: dict, fmt: str = "pdf") -> list[Path]:
    """Write path/paper/: figures/<name>.<fmt>, results.csv, results.tex and methods.txt; returns the files."""
    from . import plots
    from .html import build_context, build_rl_context

    out = path / FOLDER
    (out / "figures").mkdir(parents=True, exist_ok=True)
    rl = metrics.get("kind") == "rl"
    with plots.saved_as(fmt):
        if rl:
            figures = build_rl_context(path, recipe, metrics, env, None)["figures"]
        else:
            ctx = build_context(path, recipe, metrics, env)
            figures = {**ctx["figures"], **{_slug(title): uri for title, uri, _ in ctx["gallery"] if uri}}
    written = []
    for name, uri in figures.items():
        mime, data = uri.removeprefix("data:").split(";base64,", 1)
        f = out / "figures" / f"{name}.{EXTENSION[mime]}"
        f.write_bytes(base64.b64decode(data))
        written.append(f)
    if not rl:
        written += [_csv(out / "results.csv", metrics), _latex(out / "results.tex", recipe, metrics)]
        if metrics.get("subgroups"):
            written.append(_subgroups(out / "subgroups.csv", metrics))
        f = out / "methods.txt"
        f.write_text("\n\n".join(ctx["methods"]) + "\n", encoding="utf-8")  # as the report has them
        written.append(f)
    return written


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", title.lower()).strip("_")


def _csv(f: Path, metrics: dict) -> Path:
    """One row per metric, numbers only: value, the 95% interval, mean and std over repeats, each baseline."""
    records = results_records(metrics)
    names = list((metrics.get("baselines") or {}).get("models", {}))
    with open(f, "w", newline="", encoding="utf-8") as out:
        w = csv.writer(out)
        w.writerow(["metric", "value", "ci95_low", "ci95_high", "mean", "std",
                    *(c for n in names for c in (n, f"{n} std"))])
        for r in records:
            lo, hi = r["interval"] or ("", "")
            w.writerow([r["metric"], r["value"], lo, hi, _cell(r["mean"]), _cell(r["std"]),
                        *(_cell(x) for n in names for x in r["baselines"].get(n, (None, None)))])
    return f


def _subgroups(f: Path, metrics: dict) -> Path:
    """data.subgroups: a row per value of each column, its metrics, and the column's test of a difference."""
    from ..evaluate.subgroups import table

    with open(f, "w", newline="", encoding="utf-8") as out:
        w = csv.writer(out)
        for i, (name, s) in enumerate(metrics["subgroups"]["by"].items()):
            columns, rows = table(s, metrics["spec"]["class_names"])
            if i == 0:  # (every column of a run has the same metrics)
                w.writerow(["subgroup", "value", *columns, "test", "p_value", "p_holm"])
            w.writerows([name, *map(_cell, row), s["test"]["test"], s["test"]["p_value"], s["test"].get("p_holm", "")]
                        for row in rows)
    return f


def _cell(v) -> str | float:
    return "" if v is None else v


def _latex(f: Path, recipe, metrics: dict) -> Path:
    """The results table as a LaTeX table (booktabs), captioned with what the intervals are."""
    columns, rows = results_table(metrics)
    rep = metrics.get("repeats")
    n = metrics["data"]["sizes"]["test"]
    how = (f"mean $\\pm$ std and 95\\% interval over {len(rep['seeds'])} {'folds' if rep.get('folds') else 'split seeds'}"
           if rep else f"95\\% bootstrap interval over the {n:,} test samples")
    caption = (f"{_tex(recipe.name)}: test metrics ({how}); baselines on the same "
               f"split{'s' if rep else ''}.")
    lines = ["% written by trainlab paper; needs \\usepackage{booktabs}", "\\begin{table}[t]", "\\centering",
             f"\\caption{{{caption}}}", f"\\label{{tab:{_slug(recipe.name)}}}",
             "\\begin{tabular}{l" + "r" * (len(columns) - 1) + "}", "\\toprule",
             " & ".join(_tex(c) for c in columns) + " \\\\", "\\midrule",
             *(" & ".join([_tex(row[0].replace("_", " ")), *(_tex(c) for c in row[1:])]) + " \\\\" for row in rows),
             "\\bottomrule", "\\end{tabular}", "\\end{table}"]
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return f


def _tex(text: str) -> str:
    return re.sub(r"([&%$#_{}])", r"\\\1", str(text)).replace("±", "$\\pm$")
