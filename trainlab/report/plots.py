"""Figures for the report, returned as PNG data URIs so the page needs no other file."""
from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _uri(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def learning_curves(history: list[dict], best_epoch: int, stopped_early: bool) -> str:
    epochs = [r["epoch"] for r in history]
    metric = next((k for k in ("val_accuracy", "val_mae") if k in history[0]), None)
    fig, axes = plt.subplots(1, 2 if metric else 1, figsize=(10 if metric else 5.5, 3.6), squeeze=False)
    ax = axes[0, 0]
    ax.plot(epochs, [r["train_loss"] for r in history], "o-", ms=3, label="training loss")
    ax.plot(epochs, [r["val_loss"] for r in history], "o-", ms=3, label="validation loss")
    if best_epoch > 0:
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
        ax.set(xlabel="epoch", ylabel=metric.replace("_", " "), title=metric.replace("_", " ").capitalize())
        ax.grid(alpha=0.3)
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
