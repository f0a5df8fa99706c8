"""sweep.html: what a hyper-parameter sweep tried, what it pruned, which parameters mattered, and
the best recipe's one test evaluation."""
from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from . import fmt, headline_keys, plots
from .html import TEMPLATES


def write_sweep_report(folder: Path, study, params: dict, settings: dict, final) -> Path:
    from optuna.trial import TrialState

    trials = [t for t in study.get_trials(deepcopy=False) if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    try:
        from optuna.importance import get_param_importances

        importance = get_param_importances(study)
    except Exception as err:  # too few complete trials, or a single parameter
        importance = {"note": str(err)}
    history = plots.sweep_history([(t.number, t.value if t.state == TrialState.COMPLETE else None,
                                    t.intermediate_values) for t in trials], settings)
    test = final.metrics["test"]
    jenv = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))
    html = jenv.get_template("sweep.html.j2").render(
        study=study, trials=trials, params=params, settings=settings, importance=importance, history=history,
        best=study.best_trial, final=final, headline=[(k, test[k]) for k in headline_keys(final.metrics) if k in test],
        best_toml=(folder / "best.toml").read_text(), fmt=fmt)
    out = folder / "sweep.html"
    out.write_text(html, encoding="utf-8")
    return out
