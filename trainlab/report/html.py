"""report.html: one self-contained page (inline CSS, PNG data URIs, no network) with
everything a reader needs to judge the run."""
from __future__ import annotations

import base64

import numpy as np
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from ..core.config import to_toml
from ..evaluate import conformal
from ..evaluate.baselines import COLUMNS, LEAK_SCORE
from . import fmt, headline_keys, plots, pvalue
from .methods import (baseline_verdict, duplicates_sentence, external_results, group_sentence, group_words, groups_by,
                      learned_nothing, methods_text, near_sentence, shared_groups_sentence, shift_sentence, shift_warns,
                      small_test)

TEMPLATES = Path(__file__).parent / "templates"


def build_context(path: Path, recipe, metrics: dict, env: dict) -> dict:
    test, fit, spec = metrics["test"], metrics["fit"], metrics["spec"]
    external = external_results(path)  # trainlab evaluate's
    task = metrics["task"]["name"]
    # the report's sections: by target for supervised tasks, a gallery of pictures for the others
    target = spec["target"] if task in ("classification", "regression", "seq2seq") else "unsupervised"
    figures = {"learning": plots.learning_curves(metrics["history"], fit["best_epoch"], fit["stopped_early"])}
    gallery = _gallery(path, task, test, spec) if target == "unsupervised" else []
    near = metrics["data"].get("near_duplicates") or {}
    shown = [p for p in near.get("pairs", []) if "test_image" in p]
    if shown:
        figures["near"] = plots.image_rows({"test": [p["test_image"] for p in shown],
                                            "training": [p["train_image"] for p in shown]},
                                           "Test images and their near-identical training images",
                                           [p.get("transform", "").replace(" ", "\n", 1) for p in shown])
    if target == "class":
        names = list(spec["class_names"])
        figures.update(_examples(path, names))
        figures["confusion"] = plots.confusion_matrix(test["confusion_matrix"], names)
        figures["pr"] = plots.pr_curves(test["pr_curves"], names, [c["average_precision"] for c in test["per_class"].values()])
        if "calibration" in test:
            figures["reliability"] = plots.reliability_diagram(test["calibration"])
        wrong = test.get("errors", {}).get("most_confident_wrong", [])
        if wrong and "image" in wrong[0]:
            figures["wrong"] = plots.sample_grid(wrong, "Most confidently wrong test images",
                                                 lambda r: f"{r['true']} → {r['predicted']}\n{r['confidence']:.2f}")
        doubted = lambda r: f"label {r['true']}: p {r['p_label']:.2g}\n→ {r['predicted']}"  # noqa: E731
        doubtful = test.get("errors", {}).get("doubtful_training_labels", [])
        if doubtful and "image" in doubtful[0]:
            figures["doubtful"] = plots.sample_grid(doubtful, "Training images whose label the network doubts most",
                                                    doubted)
        oof = (metrics.get("out_of_fold") or {}).get("doubtful_labels", [])
        if oof and "image" in oof[0]:
            figures["out_of_fold"] = plots.sample_grid(oof, "Images whose label the network trained without them "
                                                            "doubts most", doubted)
    elif target == "real":
        figures["scatter"] = plots.predicted_vs_true(test["predictions"]["true"], test["predictions"]["pred"])
        figures["residuals"] = plots.residuals(test["predictions"]["true"], test["predictions"]["pred"])
    interp = _read_interpretation(path)
    if interp:
        figures.update(_interpretation_figures(interp))
    repeats = metrics.get("repeats")
    if repeats:
        keys = [k for k in headline_keys(metrics) if k in repeats["test"] and k != "loss"][:3]
        figures["repeats"] = plots.repeats_strip({k: repeats["test"][k]["values"] for k in keys})
    headline = [(k, test[k]) for k in headline_keys(metrics) if k in test]
    baseline_cols = list(COLUMNS.get(target, ())) + (["loss"] if (metrics.get("baselines") or {}).get("compared_on")
                                                     == "loss" else [])
    return {
        "recipe": recipe, "metrics": metrics, "env": env, "fit": fit, "test": test, "spec": spec, "target": target,
        "figures": figures, "headline": headline, "baseline_cols": baseline_cols, "repeats": repeats,
        "data": metrics["data"], "recipe_toml": _recipe_toml(path, recipe), "run_name": path.name, "fmt": fmt,
        "interp": interp, "gallery": gallery, "task": task,
        "methods": methods_text(recipe, metrics, env, external), "verdict": baseline_verdict(metrics),
        "learned_nothing": learned_nothing(metrics),
        "small_test": small_test(metrics, recipe.data.params),
        "pvalue": pvalue, "leak_score": LEAK_SCORE,
        "scalars": {k: v for k, v in test.items() if isinstance(v, (int, float)) and not isinstance(v, bool)},
        "subgroups": _subgroup_tables(metrics),
        "conformal_sentence": conformal.sentence(test["conformal"], spec.get("class_names") or ())
        if test.get("conformal") else "",
        "near_sentence": near_sentence(near) if near else "",
        "groups_by": groups_by(recipe.data.params),
        "group_unit": group_words(recipe.data.params)[0],
        "group_sentence": group_sentence(metrics, recipe.data.params),
        "shift_sentence": shift_sentence(metrics["data"].get("shift") or {}),
        "shift_warns": shift_warns(metrics["data"].get("shift") or {}),
        "duplicates_sentence": " ".join(filter(None, (duplicates_sentence(metrics["data"].get("duplicates") or {}),
                                                      shared_groups_sentence(metrics["data"].get("groups"))))),
        "external": external,
    }


def _subgroup_tables(metrics: dict) -> list[dict]:
    """data.subgroups as tables (a row per value) and the sentence saying whether they differ."""
    from ..evaluate.subgroups import decisive_p, sentence, table

    sg = metrics.get("subgroups")
    out = []
    for name, by in (sg or {}).get("by", {}).items():
        columns, rows = table(by, metrics["spec"]["class_names"])
        out.append({"columns": [name, *(c.replace("_", " ") for c in columns)],
                    "rows": [[row[0], row[1], *("" if v is None else fmt(v) for v in row[2:])] for row in rows],
                    "sentence": sentence(name, by, sg["folds"]), "differs": decisive_p(by) < 0.05})
    return out


def _examples(path: Path, names: list[str]) -> dict:
    """The training images the run saved (data/preview.py), as read and as augmented, one row per class."""
    from ..engine.checkpoint import load_arrays

    f = path / "pictures" / "examples.npz"
    if not f.is_file():
        return {}
    p = load_arrays(f)
    out = {"examples": plots.class_rows(p["images"], p["labels"], names, "Training images, as read")}
    if "augmented" in p:
        out["augmented"] = plots.class_rows(p["augmented"], p["labels"], names, "The same, augmented (one draw)")
    return out


def _gallery(path: Path, task: str, test: dict, spec: dict) -> list[tuple[str, str, str]]:
    """(title, figure, caption) for the pictures a reconstruction, VAE, GAN or density run saved."""
    from ..engine.checkpoint import load_arrays

    f = path / "pictures" / "final.npz"
    p = load_arrays(f) if f.is_file() else {}
    out = []
    rows = {k: p[k] for k in ("clean", "noisy", "reconstructed") if k in p}
    if rows:
        what = "denoised" if "noisy" in rows else "reconstructed"
        out.append(("Reconstructions", plots.image_rows(rows, f"Test images: {', '.join(rows)}"),
                    f"The first test images and their {what} versions (the test is never trained on)."))
    if "scores_normal" in p:
        a = test["anomaly"]
        out.append(("Anomaly scores", plots.score_histograms(p["scores_normal"], p["scores_anomalous"], test["roc_auc"]),
                    f"Held out as anomalies: {', '.join(a['held_out'])}. The further apart the two histograms, the better a "
                    "threshold on reconstruction error separates them."))
    if "prior_samples" in p:
        out.append(("Samples from the prior", plots.image_grid(p["prior_samples"], "x = decoder(z), z ~ N(0, I)"),
                    "New images decoded from random latent vectors."))
    if "latent_grid" in p:
        out.append(("Latent map", plots.image_grid(p["latent_grid"], "Decoded grid over z ∈ [−2.5, 2.5]²", cols=15),
                    "Each image decodes one point of a regular grid in the 2-D latent space."))
        out.append(("Latent space", plots.latent_scatter(p["latent_mu"], p["latent_labels"], spec["class_names"]),
                    "Where the test images land; classes the VAE never saw as labels still form regions."))
    if task == "gan":
        grids = sorted((path / "pictures").glob("epoch-*.npz"))
        pick = grids if len(grids) <= 8 else [grids[i] for i in np.linspace(0, len(grids) - 1, 8).round().astype(int)]
        if pick:
            out.append(("Samples over training", plots.samples_over_time(
                [(int(g.stem.split("-")[1]), load_arrays(g)["samples"]) for g in pick]),
                "Generated from the same fixed noise after each epoch shown."))
        if "samples" in p:
            out.append(("Samples of the best generator", plots.image_grid(p["samples"], "G(z), fixed noise"),
                        "The generator of the epoch with the lowest validation Fréchet distance."))
        out.append(("Mode coverage", plots.class_histogram(test["class_histogram"], list(spec["class_names"])),
                    f"Class entropy {test['class_entropy']:.3f} nats of a maximum {test['max_entropy']:.3f}. {test['verdict']}."))
    if task == "segmentation" and "train_image" in p:
        out.append(("Training images, their objects and weights", plots.segmentation_training(p),
                    "Green: each object's outline. The weights w(x) multiply each pixel's loss: with a weighted loss "
                    "(task.loss = 'weighted_bce…'), heavier in the gaps between touching objects, as in the U-Net paper; "
                    "otherwise 1 wherever the mask is known. Right: one draw of the task's augmentation (90° rotations "
                    "and flips, and patches with task.patch), image and mask moved together."))
    if task == "segmentation":
        out.append(("Precision-recall and the threshold", plots.segmentation_pr(test["pr_curve"], test["threshold"], test["threshold_by"]),
                    f"The threshold is the one that maximises {test['threshold_by'].replace('_', ' ')} on the validation "
                    "split; the test split is then evaluated once at that threshold."))
        if "best_image" in p:
            out.append(("Best and worst test images", plots.segmentation_overlays(p, test["per_image"]),
                        "Green: ground-truth outlines; magenta: predicted objects (connected components)."))
    if task == "density" and "density" in p:
        fig = plots.density_maps(p) if "grid_y" in p else plots.density_1d(p)
        out.append(("Density", fig, "The flow's density beside the truth (or the data), and samples drawn from the flow."))
    return out


def _read_interpretation(path: Path) -> dict | None:
    import json

    f = path / "interpret.json"
    return json.loads(f.read_text()) if f.is_file() else None


def _by_column(names: list[str], values: list[float], categories: dict) -> tuple[list[str], list[float]]:
    """Feature importances with each categorical column's one-hot features ("site=north", ...) summed
    into the column: a scientist asks how much the site matters, not one of its values."""
    owner = {f"{c}={v}": c for c, vals in categories.items() for v in vals}
    total: dict[str, float] = {}
    for n, v in zip(names, values):
        total[owner.get(n, n)] = total.get(owner.get(n, n), 0.0) + v
    return list(total), list(total.values())


def _interpretation_figures(interp: dict) -> dict:
    fig = {}
    att, names = interp.get("attributions"), interp["feature_names"]
    if att and interp["kind"] == "image":
        fig["attributions"] = plots.attribution_grid(att)
    elif att and interp["kind"] == "series":
        fig["series_attributions"] = plots.series_attributions(att, names)
    elif att:
        columns, importance = _by_column(names, att["global_importance"], interp.get("categories") or {})
        fig["global_importance"] = plots.feature_bars(
            columns, importance, "Mean |integrated gradient| over test samples (global ranking"
            + ("; a categorical column: the sum over its one-hot features)" if len(columns) < len(names) else ")"))
        first = att["samples"][0]
        fig["sample_attribution"] = plots.feature_bars(
            names, att["integrated_gradients"][0],
            f"Integrated gradients, test sample {first['index']} ({first['true']} → {first['predicted']})")
    learned = interp.get("learned", {})
    if learned.get("weights"):
        what = "each hidden unit's weights over the input" if learned["layer"] == "Linear" else "the convolution filters"
        fig["weights"] = plots.weight_maps(learned["weights"], f"First layer: {what}")
    if learned.get("best_match") and "images" in learned["best_match"][0]:
        fig["best_match"] = plots.best_match(learned["best_match"], learned["layer"])
    if interp.get("projection"):
        fig["projection"] = plots.projection(interp["projection"], interp["class_names"])
    return fig


def build_rl_context(path: Path, recipe, metrics: dict, env: dict, pictures: dict | None) -> dict:
    figures = {"curves": plots.rl_curves(metrics["history"])}
    if pictures:
        gif = plots.gif_bytes(pictures["frames"])
        (path / "game.gif").write_bytes(gif)
        figures["game"] = "data:image/gif;base64," + base64.b64encode(gif).decode()
        figures["q"] = plots.q_values(pictures["q_sample"])
    ev = metrics["eval"]
    return {"recipe": recipe, "metrics": metrics, "env": env, "eval": ev, "fit": metrics["fit"], "figures": figures,
            "pictures": pictures, "recipe_toml": _recipe_toml(path, recipe), "run_name": path.name, "fmt": fmt,
            "ratio_random": ev["greedy"]["mean"] / ev["random"]["mean"] if ev["random"]["mean"] > 0 else None}


def render(path: Path, recipe, metrics: dict, env: dict, pictures: dict | None = None) -> str:
    jenv = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))
    if metrics.get("kind") == "rl":
        return jenv.get_template("rl_report.html.j2").render(**build_rl_context(path, recipe, metrics, env, pictures))
    return jenv.get_template("report.html.j2").render(**build_context(path, recipe, metrics, env))


def write_report(path: Path, recipe, metrics: dict, env: dict, pictures: dict | None = None) -> Path:
    out = path / "report.html"
    tmp = out.with_name("report.html.tmp")
    tmp.write_text(render(path, recipe, metrics, env, pictures), encoding="utf-8")
    tmp.replace(out)
    return out


def _recipe_toml(path: Path, recipe) -> str:
    """The recipe as the run directory stores it (its plugins named by their copies there)."""
    f = path / "recipe.toml"
    return f.read_text() if f.is_file() else to_toml(recipe.to_dict())
