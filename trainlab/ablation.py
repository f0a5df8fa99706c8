"""Which of a recipe's choices matter? An ablation: the recipe as it is and with one change at a time
(each change one or more recipe overrides), every run on the same splits and seeds, each change
tested against the recipe as it is: a paired t-test over the split seeds with repeats, McNemar's
(classes) or Wilcoxon's (values) test on the same test samples otherwise. The page is trainlab
compare's, its first run the recipe as it is. Running the same command again continues."""
from __future__ import annotations

import logging
from pathlib import Path

from .core.errors import RecipeError

log = logging.getLogger("trainlab")


def ablate(recipe: str | Path, changes: list[list[str]], overrides: list[str] = (), *,
           runs_dir: str | Path = "runs", progress: bool = True) -> dict:
    """Train the recipe and each change of it in RUNS_DIR/<name>-ablation/; returns each change's
    test against the recipe as it is, and the page (ablation.html)."""
    from .procedure import _resolved, _write_json, run_in
    from .report import headline_keys
    from .report.compare import against_first, compare_page

    base = _resolved(recipe, overrides)
    if base.is_rl:
        raise RecipeError("An ablation compares test metrics of supervised or generative runs; a Deep Q-Learning "
                          "report already compares its policy with baselines.")
    if not changes:
        raise RecipeError("Give at least one change, e.g. --change model.batch_norm=false.")
    # each change applied to the recipe as written (a new optimiser takes its own defaults), and
    # checked before any training
    variants = [_resolved(recipe, [*overrides, *change]) for change in changes]
    for change, v in zip(changes, variants):
        if v.to_dict() == base.to_dict():
            raise RecipeError(f"The change {'; '.join(change)!r} leaves the recipe as it is.")
    folder = Path(runs_dir) / f"{base.name}-ablation"
    folder.mkdir(parents=True, exist_ok=True)
    runs, labels = [], ["the recipe as it is", *("; ".join(c) for c in changes)]
    for label, r in zip(labels, [base, *variants]):
        log.info("ablation: %s", label)
        runs.append(run_in(folder, r, progress))
    key = next(k for k in headline_keys(runs[0].metrics) if all(k in r.metrics["test"] for r in runs))
    tests = against_first(runs, key)
    page = compare_page(runs, folder / "ablation.html", labels, tests)
    out = {"name": base.name, "folder": str(folder), "report": str(page), "metric": key,
           "base": {"run": str(runs[0].path), **_score(runs[0], key)},
           "changes": [{"change": label, "run": str(r.path), **_score(r, key), **t}
                       for label, r, t in zip(labels[1:], runs[1:], tests)]}
    _write_json(folder / "ablation.json", out)  # what `trainlab show FOLDER` prints
    return out


def _score(run, key: str) -> dict:
    """A run's test `key`: its value, or the mean and std over its repeats."""
    rep = (run.metrics.get("repeats") or {}).get("test", {}).get(key)
    return {"value": rep["mean"], "std": rep["std"]} if rep else {"value": run.metrics["test"][key], "std": None}
