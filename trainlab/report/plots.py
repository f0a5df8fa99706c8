"""Figures for the report, returned as PNG data URIs so the page needs no other file (or, for a paper's
files, as PDF or SVG: saved_as)."""
from __future__ import annotations

import base64
import io
from contextlib import contextmanager

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.transforms import Bbox  # noqa: E402


MIME = {"png": "image/png", "svg": "image/svg+xml", "pdf": "application/pdf"}
_saved = {"format": "png", "dpi": 110}  # what _uri writes: the report's PNGs, or a paper's files (saved_as)


@contextmanager
def saved_as(fmt: str, dpi: int = 300):
    """Figures made inside are written as `fmt` (pdf, svg: vector; png at `dpi`), still as data URIs."""
    old = dict(_saved)
    _saved.update(format=fmt, dpi=dpi)
    try:
        yield
    finally:
        _saved.update(old)


def _uri(fig, bbox="tight") -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format=_saved["format"], dpi=_saved["dpi"], bbox_inches=bbox)
    plt.close(fig)
    return f"data:{MIME[_saved['format']]};base64," + base64.b64encode(buf.getvalue()).decode()


def learning_curves(history: list[dict], best_epoch: int, stopped_early: bool) -> str:
    epochs = [r["epoch"] for r in history]
    gan = "train_g_loss" in history[0]  # two players' losses; validation is a Fréchet distance, drawn apart
    metric = "val_loss" if gan else next((k for k in ("val_accuracy", "val_mae", "val_exact", "val_kl", "val_dice")
                                          if k in history[0]), None)
    fig, axes = plt.subplots(1, 2 if metric else 1, figsize=(10 if metric else 5.5, 3.6), squeeze=False)
    ax = axes[0, 0]
    for k in (k for k in history[0] if k.startswith("train_")):
        ax.plot(epochs, [r[k] for r in history], "o-", ms=3, label=k.replace("train_", "training ").replace("_", " "))
    if not gan:
        ax.plot(epochs, [r["val_loss"] for r in history], "o-", ms=3, label="validation loss")
    if best_epoch > 0 and not gan:
        best = next(r for r in history if r["epoch"] == best_epoch)
        ax.axvline(best_epoch, color="grey", ls="--", lw=1)
        ax.plot([best_epoch], [best["val_loss"]], "*", color="crimson", ms=14,
                label=f"best model (epoch {best_epoch}){', early stop' if stopped_early else ''}")
    ax.set(xlabel="epoch", ylabel="loss", title="Learning curves")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    if metric:
        ax = axes[0, 1]
        ax.plot(epochs, [r[metric] for r in history], "o-", ms=3, color="tab:green")
        if best_epoch > 0:
            ax.axvline(best_epoch, color="grey", ls="--", lw=1)
        name = "validation Fréchet distance (best model starred)" if gan else metric.replace("_", " ")
        if gan and best_epoch > 0:
            ax.plot([best_epoch], [next(r["val_loss"] for r in history if r["epoch"] == best_epoch)], "*",
                    color="crimson", ms=14)
        ax.set(xlabel="epoch", ylabel=name.split(" (")[0], title=name.capitalize())
        ax.grid(alpha=0.3)
    return _uri(fig)


def lr_find(result: dict) -> str:
    """The learning-rate range test: loss against the learning rate (log scale), the suggestions marked."""
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    ax.plot(result["lr"], result["loss"], ".", ms=3, alpha=0.35, color="grey", label="training loss (each batch)")
    ax.plot(result["lr"], result["smoothed"], "-", color="tab:blue", label="smoothed")
    marks = (("steepest", "crimson", "steepest descent"), ("minimum_over_10", "tab:green", "minimum / 10"),
             ("recipe_lr", "black", "the recipe's lr"))
    for key, colour, name in marks:
        if result.get(key):
            ax.axvline(result[key], color=colour, ls="--", lw=1, label=f"{name}: {result[key]:.2g}")
    ax.set_xscale("log")
    low, high = min(result["smoothed"]), min(max(result["smoothed"]), 4 * min(result["smoothed"]))
    pad = 0.1 * (high - low) or 0.1 * abs(low) or 0.1
    ax.set_ylim(low - pad, high + pad)  # the divergence at the end would squash the part that matters
    ax.set(xlabel="learning rate", ylabel="loss", title=f"Learning-rate range test ({result['optimizer']}, "
                                                           f"batch {result['batch_size']})")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    return _uri(fig)


def confusion_matrix(cm: list[list[int]], names: list[str]) -> str:
    cm = np.asarray(cm)
    k = len(cm)
    rows = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    size = max(4.0, 0.55 * k + 2)
    fig, ax = plt.subplots(figsize=(size, size * 0.85))
    im = ax.imshow(rows, cmap="Blues", vmin=0, vmax=1)
    for i in range(k):
        for j in range(k):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7 if k > 6 else 9,
                    color="white" if rows[i, j] > 0.5 else "black")
    ax.set_xticks(range(k), names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(k), names, fontsize=8)
    ax.set(xlabel="predicted", ylabel="true", title="Confusion matrix (test; colour = row share)")
    fig.colorbar(im, ax=ax, fraction=0.046)
    return _uri(fig)


def pr_curves(pr: dict, names: list[str], ap: list[float]) -> str:
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    prec, rec = np.asarray(pr["precision"]), np.asarray(pr["recall"])
    for i, name in enumerate(names):
        if ap[i] is not None:  # a class the test set lacks has no curve
            ax.plot(rec[i], prec[i], lw=1.3, label=f"{name} (AP {ap[i]:.3f})")
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1.01), ylim=(0, 1.01),
           title="Precision-recall, one class vs the rest (test)")
    ax.legend(fontsize=7, loc="lower left")
    ax.grid(alpha=0.3)
    return _uri(fig)


def predicted_vs_true(true: list[float], pred: list[float]) -> str:
    fig, ax = plt.subplots(figsize=(4.8, 4.2))
    ax.scatter(true, pred, s=10, alpha=0.6)
    lo, hi = min(min(true), min(pred)), max(max(true), max(pred))
    ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="perfect prediction")
    ax.set(xlabel="true", ylabel="predicted", title="Test set: predicted vs true")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _uri(fig)


def repeats_strip(values: dict[str, list[float]]) -> str:
    fig, ax = plt.subplots(figsize=(5.5, 0.6 + 0.5 * len(values)))
    for i, (name, v) in enumerate(values.items()):
        ax.scatter(v, [i] * len(v), s=25)
        ax.plot([np.mean(v)] * 2, [i - 0.3, i + 0.3], "k-", lw=2)
    ax.set_yticks(range(len(values)), list(values))
    ax.set(title="Test metric per split seed (bar: mean)")
    ax.grid(alpha=0.3, axis="x")
    return _uri(fig)


def rl_curves(history: list[dict]) -> str:
    steps = [r["step"] for r in history]
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    train = [(r["step"], r["train_return"]) for r in history if r["train_return"] is not None]
    if train:
        ax.plot(*zip(*train), "o-", ms=3, label="training episodes (ε-greedy), mean return")
    ax.plot(steps, [r["greedy_return"] for r in history], "s-", ms=3, label="evaluation policy, 100 fixed games")
    ax.set(xlabel="environment steps", ylabel="episode return", title="Learning curve")
    ax.grid(alpha=0.3)
    ax2 = ax.twinx()
    ax2.plot(steps, [r["epsilon"] for r in history], "--", color="grey", label="ε")
    ax2.set_ylabel("ε (exploration)")
    ax2.set_ylim(0, 1.05)
    lines = ax.get_legend_handles_labels()
    extra = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + extra[0], lines[1] + extra[1], fontsize=8, loc="lower right")
    return _uri(fig)


def gif_bytes(frames, ms_per_frame: int = 180) -> bytes:
    from PIL import Image

    images = [Image.fromarray(f) for f in frames]
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=ms_per_frame, loop=0)
    return buf.getvalue()


def q_values(sample: dict) -> str:
    view = np.asarray(sample["view"])  # (3, w, w): cheese, poison, wall
    w = view.shape[-1]
    img = np.full((w, w, 3), 0.96)
    img[view[2] > 0] = (0.12, 0.12, 0.12)
    img[view[0] > 0] = (0.86, 0.16, 0.16)
    img[view[1] > 0] = (0.16, 0.27, 0.86)
    img[w // 2, w // 2] = (0.47, 0.47, 0.47)
    fig, (a, b) = plt.subplots(1, 2, figsize=(7.5, 3.2))
    a.imshow(img)
    a.set_xticks([]), a.set_yticks([])
    a.set_title("what the mouse sees (grey: mouse, red: cheese,\nblue: poison, black: wall)", fontsize=8)
    q = np.asarray(sample["q"])
    colours = ["tab:green" if i == q.argmax() else "tab:blue" for i in range(len(q))]
    b.bar(sample["actions"], q, color=colours)
    b.set(title="Q-values of the four actions (green: greedy choice)", ylabel="Q(s, a)")
    b.title.set_fontsize(9)
    b.grid(alpha=0.3, axis="y")
    return _uri(fig)


# --- grids of pictures, drawn as one image: one Axes, not one per picture (a grid of 60 took 0.5 s) ---

def _coloured(a, cmap: str, vmin: float, vmax: float) -> np.ndarray:
    """(H, W) values → (H, W, 3) colours of `cmap`, from vmin to vmax."""
    a = np.asarray(a, float)
    return matplotlib.colormaps[cmap](np.clip((a - vmin) / ((vmax - vmin) or 1.0), 0, 1))[..., :3]


def _picture(a) -> np.ndarray:
    """An image (C, H, W) as (H, W, 3) colours: a grey one stretched from its darkest pixel to its
    brightest, a colour one divided by its brightest (as imshow shows them)."""
    a = np.asarray(a, float)
    if a.shape[0] == 1:
        return _coloured(a[0], "gray", a.min(), a.max())
    return np.clip(a.transpose(1, 2, 0) / max(a.max(), 1), 0, 1)


def _signed(m, cmap: str = "bwr") -> np.ndarray:
    """A map of signed values, white at 0 and symmetric about it."""
    lim = np.abs(m).max() or 1
    return _coloured(m, cmap, -lim, lim)


def _lines(texts) -> int:
    return max((str(t).count("\n") + 1 for t in texts if t), default=0)


def _mosaic(cells: list[list], title: str = "", *, tile: float = 1.2, gap: float = 0.08, above=None,
            left=(), below=(), size: float = 7, title_size: float = 9) -> str:
    """Rows of pictures ((H, W, 3) colours; rows may differ in length) as one figure, each `tile` inches
    wide with `gap` inches between them; captions `above` each picture (rows of texts), `left` of each
    row and `below` each column."""
    h = max(c.shape[0] for row in cells for c in row)
    w = max(c.shape[1] for row in cells for c in row)
    ppi = max(h, w) / tile  # the mosaic's pixels per inch

    def line(n: int) -> int:  # the height of n lines of captions, in pixels
        return int(round(n * size / 72 * 1.35 * ppi))

    pad, top = int(round(gap * ppi)), line(_lines(t for row in (above or []) for t in row))
    dy, dx, cols = h + pad + top, w + pad, max(len(row) for row in cells)
    canvas = np.ones((len(cells) * dy - pad, cols * dx - pad, 3))
    fig = plt.figure(figsize=(canvas.shape[1] / ppi, canvas.shape[0] / ppi))
    ax = fig.add_axes((0, 0, 1, 1))
    for i, row in enumerate(cells):
        for j, c in enumerate(row):
            y, x = i * dy + top + (h - c.shape[0]) // 2, j * dx + (w - c.shape[1]) // 2
            canvas[y:y + c.shape[0], x:x + c.shape[1]] = c
            if above and j < len(above[i]) and above[i][j]:
                ax.text(j * dx + w / 2, i * dy + top - pad / 4, above[i][j], ha="center", va="bottom", fontsize=size)
    for i, label in enumerate(left):
        ax.text(-pad, i * dy + top + h / 2, label, ha="right", va="center", fontsize=size)
    for j, caption in enumerate(below):
        ax.text(j * dx + w / 2, canvas.shape[0] + pad / 2, caption, ha="center", va="top", fontsize=size)
    ax.set_axis_off()
    if title:
        ax.text(canvas.shape[1] / 2, -line(1), title, ha="center", va="bottom", fontsize=title_size)
    ax.set(xlim=(-0.5, canvas.shape[1] - 0.5), ylim=(canvas.shape[0] - 0.5, -0.5))  # imshow's extent
    # the figure and its captions, measured before the image is added: "tight" would draw the whole
    # image once more to measure it (2.1 s instead of 0.25 s for a 15 × 15 grid)
    bbox = Bbox.union([fig.bbox_inches, fig.get_tightbbox(fig.canvas.get_renderer())]).padded(0.1)
    ax.imshow(np.round(canvas * 255).astype(np.uint8), interpolation="nearest")  # bytes: matplotlib's float path is slower
    return _uri(fig, bbox)


def _rows_of(items: list, cols: int) -> list[list]:
    return [items[i:i + cols] for i in range(0, len(items), cols)]


def reliability_diagram(cal: dict) -> str:
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration")
    for key, style, label in (("bins", "o-", f"model (ECE {cal['ece']:.3f})"),):
        b = cal[key]
        ax.plot([r["confidence"] for r in b], [r["accuracy"] for r in b], style, ms=4, label=label)
    if "scaled" in cal:
        b = cal["scaled"]["bins"]
        ax.plot([r["confidence"] for r in b], [r["accuracy"] for r in b], "s-", ms=3,
                label=f"temperature {cal['temperature']:.2f} (ECE {cal['scaled']['ece']:.3f})")
    ax.set(xlabel="confidence (highest probability)", ylabel="accuracy", xlim=(0, 1), ylim=(0, 1.01),
           title="Reliability diagram (test)")
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)
    return _uri(fig)


def sample_grid(rows: list[dict], title: str, caption) -> str:
    return _mosaic(_rows_of([_picture(r["image"]) for r in rows], 6), title, tile=1.5, gap=0.2,
                   above=_rows_of([caption(r) for r in rows], 6), title_size=10)


def attribution_grid(att: dict) -> str:
    """Per explained sample: the input, then |saliency|, integrated gradients, gradient SHAP."""
    methods = (("saliency", "saliency"), ("integrated_gradients", "integrated gradients"), ("gradient_shap", "gradient SHAP"))
    cells = []
    for i in range(len(att["samples"])):
        maps = [np.asarray(att[key][i]).sum(0) for key, _ in methods]  # summed over channels
        cells.append([_picture(att["images"][i]), _coloured(maps[0], "hot", 0, np.abs(maps[0]).max() or 1),
                      *(_signed(m) for m in maps[1:])])
    above = [["input", *(name for _, name in methods)]] + [[]] * (len(cells) - 1)
    return _mosaic(cells, "Attributions for the predicted class (red: for, blue: against)", tile=1.5, gap=0.15,
                   above=above, left=[f"{s['true']}\n→ {s['predicted']}" for s in att["samples"]], size=8)


def series_attributions(att: dict, names: list[str], shown: int = 4) -> str:
    """A series classifier's attributions: the mean |integrated gradient| of each value at each step over
    test samples (which steps and values decide), then a few test series, each value a line, on each
    step's integrated gradient for the predicted class (summed over the values; red: for, blue: against)."""
    glob = np.asarray(att["global_importance"], float)  # (T, F)
    t, f = glob.shape
    k = min(shown, len(att["samples"]))
    fig, axes = plt.subplots(1 + k, 1, figsize=(7, 1.2 + 0.18 * min(f, 16) + 1.5 * k), sharex=True, squeeze=False,
                             gridspec_kw={"height_ratios": [0.4 + 0.12 * min(f, 16)] + [1.0] * k, "hspace": 0.45})
    ax = axes[0, 0]
    ax.imshow(glob.T, aspect="auto", cmap="hot_r", interpolation="nearest", extent=(-0.5, t - 0.5, f - 0.5, -0.5))
    ax.set_title("Mean |integrated gradient| over test samples: each value (rows) at each step", fontsize=9)
    ax.set_yticks(range(f) if f <= 16 else [], names if f <= 16 else [], fontsize=6)
    steps = np.arange(t)
    for i in range(k):
        s, a = att["samples"][i], axes[1 + i, 0]
        ig = np.asarray(att["integrated_gradients"][i], float).sum(1)
        scale = np.abs(ig).max() or 1.0
        for step, v in zip(steps, ig):  # each step shaded by its attribution
            a.axvspan(step - 0.5, step + 0.5, color="tab:red" if v > 0 else "tab:blue", alpha=0.5 * abs(v) / scale, lw=0)
        x = np.asarray(att["series"][i], float)
        for j in range(min(x.shape[1], 8)):  # at most 8 values drawn
            a.plot(steps, x[:, j], lw=1, label=names[j])
        a.set_title(f"test sample {s['index']}: {s['true']} → {s['predicted']}", fontsize=8)
        a.tick_params(labelsize=7)
        if i == 0:
            a.legend(fontsize=6, loc="upper right", ncol=min(x.shape[1], 8, 4), framealpha=0.6)
    axes[-1, 0].set_xlabel("step")
    axes[-1, 0].set_xlim(-0.5, t - 0.5)
    return _uri(fig)


def feature_bars(names: list[str], values, title: str) -> str:
    v = np.asarray(values, float)
    order = np.argsort(np.abs(v))[::-1][:20][::-1]
    fig, ax = plt.subplots(figsize=(6, 0.3 * len(order) + 1))
    ax.barh([names[i] for i in order], v[order], color=["tab:red" if x > 0 else "tab:blue" for x in v[order]])
    ax.set(title=title)
    ax.tick_params(axis="y", labelsize=7)
    ax.grid(alpha=0.3, axis="x")
    return _uri(fig)


def weight_maps(weights, title: str) -> str:
    w = np.asarray(weights, float)  # (units, C, H, W)
    return _mosaic(_rows_of([_signed(m.mean(0)) for m in w], 8), title, tile=1.0, gap=0.15)


def best_match(matches: list[dict], layer: str) -> str:
    return _mosaic([[_picture(img) for img in m["images"]] for m in matches],
                   f"Test images that excite first-layer ({layer}) units most", tile=1.0, gap=0.15,
                   left=[f"unit {m['unit']}" for m in matches])


def projection(proj: dict, names: list[str]) -> str:
    p, y = np.asarray(proj["points"]), np.asarray(proj["labels"])
    fig, ax = plt.subplots(figsize=(5.5, 4.6))
    for c, name in enumerate(names):
        m = y == c
        ax.scatter(p[m, 0], p[m, 1], s=4, alpha=0.6, label=name)
    ev = proj["explained_variance"]
    ax.set(xlabel=f"PC1 ({ev[0]:.0%})", ylabel=f"PC2 ({ev[1]:.0%})",
           title=f"Penultimate features ({proj['dims']} dims), PCA, test set")
    ax.legend(fontsize=7, markerscale=3, loc="best")
    return _uri(fig)


def residuals(true, pred) -> str:
    t, p = np.asarray(true), np.asarray(pred)
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.6))
    a.scatter(p, t - p, s=10, alpha=0.6)
    a.axhline(0, color="k", lw=1)
    a.set(xlabel="predicted", ylabel="residual (true − predicted)", title="Residuals vs prediction")
    a.grid(alpha=0.3)
    b.hist(t - p, bins=30)
    b.set(xlabel="residual", ylabel="count", title="Residual distribution")
    return _uri(fig)


def overlaid_curves(histories: dict[str, list[dict]]) -> str:
    fig, ax = plt.subplots(figsize=(7, 3.8))
    for (name, h), colour in zip(histories.items(), plt.rcParams["axes.prop_cycle"].by_key()["color"] * 3):
        ax.plot([r["epoch"] for r in h], [r["val_loss"] for r in h], "-", color=colour, label=f"{name} (validation)")
        ax.plot([r["epoch"] for r in h], [r["train_loss"] for r in h], ":", color=colour, label=f"{name} (training)")
    ax.set(xlabel="epoch", ylabel="loss", title="Learning curves (first split seed of each run)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return _uri(fig)


# --- learning without labels ---

def _as_images(a) -> np.ndarray:
    """(N, H, W) or (N, C, H, W) in pixel units → (N, C, H, W)."""
    a = np.asarray(a, float)
    return a[:, None] if a.ndim == 3 else a


def image_rows(rows: dict, title: str, captions=()) -> str:
    """One row of images per entry (e.g. clean / noisy / reconstructed), same samples in each column;
    `captions`: one below each column."""
    return _mosaic([[_picture(img) for img in _as_images(rows[name])] for name in rows], title, tile=1.1,
                   gap=0.12, left=list(rows), below=list(captions), title_size=10)


def class_rows(images, labels, names, title: str) -> str:
    """Images in rows, one row per class, named on the left."""
    images, labels = _as_images(images), np.asarray(labels)
    shown = [c for c in range(len(names)) if (labels == c).any()]
    return _mosaic([[_picture(img) for img in images[labels == c]] for c in shown], title, tile=0.6, gap=0.05,
                   left=[names[c] for c in shown], title_size=10)


def image_grid(images, title: str, cols: int = 8) -> str:
    return _mosaic(_rows_of([_picture(img) for img in _as_images(images)], cols), title, tile=0.85, gap=0.05,
                   title_size=10)


def samples_over_time(grids: list[tuple[int, np.ndarray]], per_row: int = 12) -> str:
    """The same fixed-noise samples after several epochs: one row per epoch."""
    return _mosaic([[_picture(img) for img in _as_images(images)[:per_row]] for _, images in grids],
                   "Samples from the same fixed noise over training", tile=0.75, gap=0.08,
                   left=[f"epoch {epoch}" for epoch, _ in grids], title_size=10)


def score_histograms(normal, anomalous, auc: float) -> str:
    fig, ax = plt.subplots(figsize=(6, 3.4))
    bins = np.linspace(min(normal.min(), anomalous.min()), np.quantile(np.concatenate([normal, anomalous]), 0.995), 60)
    ax.hist(normal, bins, density=True, alpha=0.6, label=f"normal ({len(normal)})")
    ax.hist(anomalous, bins, density=True, alpha=0.6, label=f"held out as anomalous ({len(anomalous)})")
    ax.set(xlabel="reconstruction error (anomaly score)", ylabel="density", title=f"Test scores (ROC-AUC {auc:.3f})")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _uri(fig)


def latent_scatter(mu, labels, names) -> str:
    fig, ax = plt.subplots(figsize=(5.4, 4.6))
    for k, name in enumerate(names):
        m = labels == k
        if m.any():
            ax.scatter(mu[m, 0], mu[m, 1], s=4, alpha=0.6, label=name)
    ax.set(xlabel="z1", ylabel="z2", title="Test images in the 2-D latent space (μ)")
    ax.legend(fontsize=6, markerscale=3, ncol=2)
    return _uri(fig)


def class_histogram(hist: list[float], names: list[str]) -> str:
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.bar(range(len(hist)), hist)
    ax.axhline(1 / len(hist), color="grey", ls="--", lw=1, label="uniform")
    ax.set_xticks(range(len(hist)), names, rotation=45, ha="right", fontsize=7)
    ax.set(ylabel="share of samples", title="Generated samples by the judge's predicted class")
    ax.legend(fontsize=8)
    return _uri(fig)


def density_maps(p: dict) -> str:
    """2-D: the model's density, the truth (or a histogram of test points), and samples vs data."""
    gx, gy = p["grid_x"], p["grid_y"]
    shape = (len(gy), len(gx))
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    ext = (gx[0], gx[-1], gy[0], gy[-1])
    axes[0].imshow(p["density"].reshape(shape), origin="lower", extent=ext, aspect="auto", cmap="viridis")
    axes[0].set_title("model density p̂(x)")
    if "true_density" in p:
        axes[1].imshow(p["true_density"].reshape(shape), origin="lower", extent=ext, aspect="auto", cmap="viridis")
        axes[1].set_title("true density p(x)")
    else:
        axes[1].hist2d(p["test_points"][:, 0], p["test_points"][:, 1], bins=60, range=[ext[:2], ext[2:]], cmap="viridis")
        axes[1].set_title("test points (histogram)")
    axes[2].scatter(p["test_points"][:, 0], p["test_points"][:, 1], s=2, alpha=0.4, label="test data")
    axes[2].scatter(p["samples"][:, 0], p["samples"][:, 1], s=2, alpha=0.4, label="flow samples")
    axes[2].set(xlim=ext[:2], ylim=ext[2:], title="samples vs data")
    axes[2].legend(fontsize=8, markerscale=4)
    return _uri(fig)


def density_1d(p: dict) -> str:
    fig, ax = plt.subplots(figsize=(7, 3.6))
    ax.hist(p["test_points"][:, 0], bins=80, density=True, alpha=0.35, label="test data")
    ax.hist(p["samples"][:, 0], bins=80, density=True, histtype="step", label="flow samples")
    ax.plot(p["grid_x"], p["density"], lw=2, label="model density p̂(x)")
    if "true_density" in p:
        ax.plot(p["grid_x"], p["true_density"], "k--", lw=1.2, label="true density p(x)")
    ax.set(xlabel="x", ylabel="density", title="Density (1-D)")
    ax.legend(fontsize=8)
    return _uri(fig)


# --- segmentation ---

def _outline(labels: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    return (labels > 0) & (ndimage.grey_erosion(labels, size=3) != labels) | \
        (labels > 0) & (ndimage.grey_dilation(labels, size=3) != labels)


def segmentation_overlays(p: dict, scores: dict) -> str:
    """Best and worst test images: the image, the ground truth (green outlines) and the prediction (magenta)."""
    fig, axes = plt.subplots(2, 3, figsize=(11, 7.4))
    for row, which in enumerate(("best", "worst")):
        img = p[f"{which}_image"]
        rgb = np.repeat(np.clip(img, 0, 1)[..., None], 3, -1)
        true_rgb, pred_rgb = rgb.copy(), rgb.copy()
        true_rgb[_outline(p[f"{which}_true"])] = (0.1, 1.0, 0.1)
        pred_rgb[_outline(p[f"{which}_pred"])] = (1.0, 0.1, 1.0)
        s = scores[int(p[f"{which}_index"])]
        for ax, a, title in zip(axes[row], (rgb, true_rgb, pred_rgb),
                                (f"{which} test image #{s['image']} (Dice {s['dice']:.3f})",
                                 f"ground truth: {s['true']} objects", f"prediction: {s['pred']} objects, {s['tp']} matched")):
            ax.imshow(a)
            ax.set_title(title, fontsize=9)
            ax.axis("off")
    return _uri(fig)


def segmentation_training(p: dict) -> str:
    """Training images: each with its objects' outlines, its pixel weights w(x), and one augmented draw."""
    n = len(p["train_image"])
    fig, axes = plt.subplots(n, 3, figsize=(9, 3 * n), squeeze=False)

    def outlined(img, labels):
        img = np.asarray(img, float)
        rgb = np.repeat(((img - img.min()) / ((img.max() - img.min()) or 1.0))[..., None], 3, -1)
        rgb[_outline(np.where(labels > 0, labels, 0).astype(np.int32))] = (0.1, 1.0, 0.1)
        return rgb

    for i, row in enumerate(axes):
        row[0].imshow(outlined(p["train_image"][i], p["train_labels"][i]))
        w = row[1].imshow(p["train_weights"][i], cmap="viridis")
        fig.colorbar(w, ax=row[1], fraction=0.046, pad=0.04)
        row[2].imshow(outlined(p[f"augmented_{i}_image"], p[f"augmented_{i}_labels"]))
        for ax, title in zip(row, (f"training image {i}: objects", "pixel weights w(x) of the loss", "augmented (one draw)")):
            ax.set_title(title, fontsize=9)
            ax.axis("off")
    return _uri(fig)


def segmentation_pr(curve: dict, threshold: float, by: str) -> str:
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    ax = axes[0]
    ax.plot(curve["recall"], curve["precision"], "o-", ms=2)
    i = curve["thresholds"].index(threshold)
    ax.plot([curve["recall"][i]], [curve["precision"][i]], "*", color="crimson", ms=14,
            label=f"chosen threshold {threshold} (on validation)")
    ax.set(xlabel="pixel recall", ylabel="pixel precision", title="Test precision-recall over thresholds")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    ax = axes[1]
    name = "object F1" if by == "object_f1" else "pixel Dice"
    ax.plot(curve["thresholds"], curve["val_score"], "-", color="tab:green")
    ax.axvline(threshold, color="crimson", ls="--", lw=1)
    ax.set(xlabel="threshold", ylabel=f"validation {name}", title="Choosing the threshold on the validation split")
    ax.grid(alpha=0.3)
    return _uri(fig)


def sweep_history(trials: list, settings: dict) -> str:
    """Each trial's learning curve (grey; pruned ones dashed) and final value, with the best so far."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    best, best_so_far, xs = None, [], []
    sign = 1 if settings["direction"] == "minimize" else -1
    for number, value, curve in trials:
        epochs = sorted(curve)
        axes[0].plot(epochs, [curve[e] for e in epochs], "-" if value is not None else "--", color="grey", alpha=0.6, lw=1)
        if value is not None:
            axes[1].plot(number, value, "o", color="tab:blue", ms=4)
            best = value if best is None or sign * value < sign * best else best
        xs.append(number)
        best_so_far.append(best)
    axes[1].step(xs, best_so_far, where="post", color="crimson", label="best so far")
    axes[0].set(xlabel="epoch", ylabel=settings["metric"], title="Learning curves (dashed: pruned)")
    axes[1].set(xlabel="trial", ylabel=settings["metric"], title="Optimisation history")
    axes[1].legend(fontsize=8)
    for ax in axes:
        ax.grid(alpha=0.3)
    return _uri(fig)


def size_curve(points: list[dict], key: str) -> str:
    """The learning curve over the training-set size: the test score of the network (± std over
    repeats, or its bootstrap interval) and of the baselines; the kept model's training and validation loss."""
    n = [p["train_samples"] for p in points]
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10.5, 3.8))
    mean = np.array([p["mean"] for p in points])
    if all(p["std"] is not None for p in points):
        err, how = np.array([p["std"] for p in points]), "± std over repeats"
    elif all(p["interval"] for p in points):
        err, how = np.abs(np.array([p["interval"] for p in points]).T - mean), "95% bootstrap interval"
    else:
        err, how = None, ""
    ax.errorbar(n, mean, yerr=err, fmt="o-", capsize=3, lw=2, label=f"this network{' (' + how + ')' if how else ''}")
    from ..evaluate.baselines import TRIVIAL

    for name in (b for b in points[0]["baselines"] if b not in TRIVIAL.values()):  # a constant would flatten the axis
        ax.plot(n, [p["baselines"].get(name, np.nan) for p in points], "s--", ms=4, label=name)
    ax.set(ylabel=f"test {key.replace('_', ' ')}", title="Test score against the training-set size")
    for k, label in (("train_loss", "training loss"), ("val_loss", "validation loss")):
        if all(p.get(k) is not None for p in points):
            bx.plot(n, [p[k] for p in points], "o-", label=label)
    bx.set(ylabel="loss", title="Losses of the kept model (best epoch)")
    for a in (ax, bx):
        a.set_xscale("log")
        a.set_xticks(n, [f"{v:,}" for v in n], rotation=30 if len(n) > 4 else 0)
        a.minorticks_off()
        a.set_xlabel("training samples")
        a.legend(fontsize=8)
        a.grid(alpha=0.3)
    return _uri(fig)
