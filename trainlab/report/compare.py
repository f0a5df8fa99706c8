"""One HTML page comparing runs: key metrics (mean ± std over repeats), a paired test between
two runs' repeats when they share split seeds, overlaid learning curves, and the recipe diff."""
from __future__ import annotations

import difflib
from pathlib import Path

import numpy as np

from ..core.errors import TrainlabError
from ..evaluate.robustness import holm
from . import fmt, headline_keys, lower_is_better, plots, pvalue
from .html import TEMPLATES



def _values(metrics: dict, key: str) -> list[float]:
    rep = (metrics.get("repeats") or {}).get("test", {}).get(key)
    return rep["values"] if rep else [metrics["test"][key]]


def significance(a: dict, b: dict, key: str, pairs: dict | None = None) -> dict:
    """Which of two runs is better on `key`, and whether the difference is significant: a paired
    t-test when both repeated over the same seeds, Welch's t-test when both repeated otherwise, and
    with a single run `pairs` (a paired test on the same test samples, see same_samples) if given."""
    from scipy import stats

    va, vb = _values(a, key), _values(b, key)
    higher = not lower_is_better(key, a)
    diff = float(np.mean(va) - np.mean(vb))
    better = 0 if diff == 0 else (0 if (diff > 0) == higher else 1)
    out = {"metric": key, "mean_difference": diff, "better": better, "n": [len(va), len(vb)]}
    ra, rb = a.get("repeats") or {}, b.get("repeats") or {}
    splits = lambda r: (r.get("seeds"), r.get("folds", 0))  # noqa: E731 - the same seeds, and folds or not
    if (len(va) < 2 or len(vb) < 2) and pairs:
        over = f" ({pairs['groups']:,} of them)" if pairs.get("groups") else ""
        out.update(test=f"{pairs['test']}{over} on the same {a['data']['sizes']['test']:,} test samples",
                   p_value=pairs["p_value"],
                   only=[pairs["network_only"], pairs["baseline_only"]])
    elif len(va) < 2 or len(vb) < 2:
        out.update(test=None, p_value=None, note="one run per recipe, tested on different samples: repeat both with "
                                                 "--repeats 5 to test the difference")
    elif splits(ra) == splits(rb):
        d = np.asarray(va) - np.asarray(vb)
        p = float(stats.ttest_rel(va, vb).pvalue) if np.any(d != d[0]) else (0.0 if d[0] != 0 else 1.0)
        out.update(test="paired t-test over the same " + ("folds" if ra.get("folds") else "split seeds"), p_value=p)
    else:
        out.update(test="Welch's t-test (different split seeds)", p_value=float(stats.ttest_ind(va, vb, equal_var=False).pvalue))
    out["significant"] = out["p_value"] is not None and out["p_value"] < 0.05
    return out


def same_samples(a, b) -> dict | None:
    """McNemar's test (classes) or Wilcoxon's (values) between two runs tested on the same samples
    (the same test digest), from their saved test predictions, or over whole test groups when the samples
    came in groups (baselines.paired_test); None when they were not."""
    from ..evaluate.baselines import paired_test

    digest = a.metrics["data"].get("test_digest")
    files = [r.path / "test_predictions.npz" for r in (a, b)]
    if not digest or digest != b.metrics["data"].get("test_digest") or not all(f.is_file() for f in files):
        return None
    with np.load(files[0]) as pa, np.load(files[1]) as pb:
        groups = pa["groups"] if "groups" in pa.files else None  # windows of recordings: whole ones are flipped
        return paired_test(pa["true"], pa["pred"], pb["pred"], a.metrics["spec"]["target"] == "class", groups)


def against_first(runs: list, key: str) -> list[dict]:
    """Each later run against the first on `key`: which is better, and whether significantly. Several
    comparisons at once find a 'significant' difference by chance more often than one: their p-values are
    also adjusted by Holm's step-down method (p_holm), which decides `significant` when there are two or more."""
    tests = [significance(runs[0].metrics, r.metrics, key, same_samples(runs[0], r)) for r in runs[1:]]
    tested = [t for t in tests if t["p_value"] is not None]
    if len(tested) >= 2:
        for t, p in zip(tested, holm([t["p_value"] for t in tested])):
            t.update(p_holm=p, significant=p < 0.05)
    return tests


def check_comparable(runs: list) -> None:
    """Two or more finished runs of one supervised or generative task, or a clear error."""
    if len(runs) < 2:
        raise TrainlabError("trainlab compare needs at least two run directories.")
    for r in runs:
        if not r.metrics:
            raise TrainlabError(f"Run {str(r.path)!r} has no results (status: {r.status}).")
        if r.metrics.get("kind") == "rl":
            raise TrainlabError("trainlab compare works on supervised runs; an RL report already compares policies.")
    tasks = {r.metrics["task"]["name"] for r in runs}
    if len(tasks) > 1:
        raise TrainlabError(f"These runs mix tasks ({', '.join(sorted(tasks))}): compare like with like.")


def compare_page(runs: list, out: Path, labels: list[str] | None = None, tests: list[dict] | None = None) -> Path:
    """The comparison page; `labels`: what each run is (default: its recipe's name); `tests`: each
    later run against the first (against_first on the first headline metric), when already made."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    check_comparable(runs)
    keys = [k for k in headline_keys(runs[0].metrics) if all(k in r.metrics["test"] for r in runs)]
    labels = labels or [r.recipe.name for r in runs]
    table = []
    for r, label in zip(runs, labels):
        row = {"name": label, "path": str(r.path), "n": len(_values(r.metrics, keys[0]))}
        for k in keys:
            v = _values(r.metrics, k)
            row[k] = f"{np.mean(v):.4f}" + (f" ± {np.std(v, ddof=1):.4f}" if len(v) > 1 else "")
        table.append(row)
    tests = tests if tests is not None else against_first(runs, keys[0])
    base = (runs[0].path / "recipe.toml").read_text().splitlines()
    diffs = [{"name": f"{runs[0].path.name} → {r.path.name}",
              "text": "\n".join(difflib.unified_diff(base, (r.path / "recipe.toml").read_text().splitlines(),
                                                     runs[0].path.name, r.path.name, lineterm="")) or "(identical recipes)"}
             for r in runs[1:]]
    curves = plots.overlaid_curves({f"{i}: {label}": r.history for i, (r, label) in enumerate(zip(runs, labels))})
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))
    html = env.get_template("compare.html.j2").render(runs=runs, table=table, keys=keys, tests=tests, diffs=diffs,
                                                      curves=curves, fmt=fmt, pvalue=pvalue)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    return out
