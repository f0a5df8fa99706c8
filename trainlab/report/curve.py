"""curve.html: the learning curve over the training-set size (trainlab learning-curve)."""
from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from . import fmt, plots
from .html import TEMPLATES


def write_curve_report(folder: Path, curve: dict) -> Path:
    jenv = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))
    html = jenv.get_template("curve.html.j2").render(
        curve=curve, name=curve["recipe"]["name"], figure=plots.size_curve(curve["points"], curve["metric"]), fmt=fmt)
    out = folder / "curve.html"
    out.write_text(html, encoding="utf-8")
    return out
