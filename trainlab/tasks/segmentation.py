"""Binary segmentation (e.g. nuclei), evaluated as a biologist needs it. Training targets follow the
U-Net paper: the foreground with a background gap between touching objects, so that connected
components of the prediction separate them, and optionally the boundary weight map
w(x) = w_c(x) + w₀·exp(−(d₁ + d₂)² / 2σ²). The decision threshold is chosen on the validation
split and applied once to the test split; objects are matched to ground-truth instances at IoU ≥ 0.5;
Otsu's threshold with connected components is the classical baseline shown beside the network."""
from __future__ import annotations

from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from ..core.errors import RecipeError
from ..core.spec import DataSpec
from .base import TASKS, Task

THRESHOLDS = np.round(np.arange(0.02, 0.99, 0.02), 2)
SHOWN = 512  # training pictures larger than this many pixels a side are kept at every k-th pixel, for the report


# --- targets ---

def touching_borders(labels: np.ndarray) -> np.ndarray:
    """Object pixels with a neighbour (8-connected) that belongs to a different object."""
    from scipy import ndimage

    big = np.where(labels > 0, labels, np.iinfo(np.int32).max)
    return (labels > 0) & ((ndimage.maximum_filter(labels, 3) > labels) | (ndimage.minimum_filter(big, 3) < labels))


def weight_map(labels: np.ndarray, w0: float, sigma: float, class_weights: tuple[float, float]) -> np.ndarray:
    """w_c(x) + w₀·exp(−(d₁ + d₂)²/2σ²) on background pixels, d₁, d₂ the distances to the nearest two objects."""
    from scipy import ndimage

    w = np.where(labels > 0, class_weights[1], class_weights[0]).astype(np.float32)
    ids = [i for i in np.unique(labels) if i > 0]
    if len(ids) >= 2:
        d = np.sort(np.stack([ndimage.distance_transform_edt(labels != i) for i in ids]), axis=0)[:2]  # (2, H, W)
        w += (labels == 0) * w0 * np.exp(-((d[0] + d[1]) ** 2) / (2 * sigma ** 2))
    return np.where(labels < 0, 0.0, w).astype(np.float32)


# --- objects ---

def match_objects(true: np.ndarray, pred: np.ndarray, iou: float = 0.5) -> dict:
    """Greedy one-to-one matching of predicted to true instances (ids 1..k, as the readers and
    `instances` give them) by IoU (≥ iou counts as found)."""
    nt, np_ = int(true.max(initial=0)), int(pred.max(initial=0))
    out = {"true": nt, "pred": np_, "tp": 0, "fp": np_, "fn": nt, "mean_iou": 0.0}
    if nt == 0 or np_ == 0:
        return out
    inter = np.bincount(true.ravel() * (np_ + 1) + pred.ravel(), minlength=(nt + 1) * (np_ + 1)).reshape(nt + 1, np_ + 1)
    area_t, area_p = inter.sum(1, keepdims=True), inter.sum(0, keepdims=True)
    ious = (inter / np.maximum(area_t + area_p - inter, 1))[1:, 1:]  # (true, pred), background dropped
    pairs = np.argwhere(ious >= iou)
    pairs = pairs[np.argsort(-ious[pairs[:, 0], pairs[:, 1]])]
    used_t, used_p, matched = set(), set(), []
    for t, p in pairs:
        if t not in used_t and p not in used_p:
            used_t.add(t), used_p.add(p), matched.append(ious[t, p])
    tp = len(matched)
    return {**out, "tp": tp, "fp": np_ - tp, "fn": nt - tp, "mean_iou": float(np.mean(matched)) if matched else 0.0}


def instances(mask: np.ndarray, min_size: int, split_touching: bool) -> np.ndarray:
    """Connected components of a binary mask (small ones dropped), optionally split by a watershed
    on the distance transform (for touching objects the network merged)."""
    from scipy import ndimage

    labels, n = ndimage.label(mask)
    if n and min_size:
        sizes = np.bincount(labels.ravel())
        labels[np.isin(labels, np.flatnonzero(sizes < min_size))] = 0
    if split_touching and labels.any():
        from skimage.feature import peak_local_max
        from skimage.segmentation import watershed

        dist = ndimage.distance_transform_edt(labels > 0)
        peaks = peak_local_max(dist, min_distance=4, labels=labels, exclude_border=False)
        markers = np.zeros_like(labels)
        markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
        labels = watershed(-dist, markers, mask=labels > 0)
    _, labels = np.unique(labels, return_inverse=True)
    return labels.reshape(mask.shape).astype(np.int32)


def otsu(values: np.ndarray) -> float:
    from skimage.filters import threshold_otsu

    return float(threshold_otsu(values))


def pixel_counts(pred: np.ndarray, true: np.ndarray) -> dict:
    tp, fp = int((pred & true).sum()), int((pred & ~true).sum())
    fn, tn = int((~pred & true).sum()), int((~pred & ~true).sum())
    return {"tp": tp, "fp": fp, "fn": fn, "tn": tn}


def pixel_scores(c: dict) -> dict:
    tp, fp, fn, tn = c["tp"], c["fp"], c["fn"], c["tn"]
    return {"dice": 2 * tp / max(2 * tp + fp + fn, 1), "iou": tp / max(tp + fp + fn, 1),
            "precision": tp / max(tp + fp, 1), "recall": tp / max(tp + fn, 1),
            "pixel_accuracy": (tp + tn) / max(tp + fp + fn + tn, 1)}


def image_bootstrap(rows: list[dict], resamples: int = 1000, seed: int = 0) -> dict:
    """95% intervals of the object scores and the count error over `resamples` bootstrap resamples of the
    images (their per-image rows): how much they depend on which images were drawn."""
    from ..evaluate.robustness import percentile_interval

    a = np.array([[r["tp"], r["fp"], r["fn"], abs(r["pred"] - r["true"])] for r in rows], float)
    s = a[np.random.default_rng(seed).integers(0, len(a), (resamples, len(a)))].sum(1)
    p, r = s[:, 0] / np.maximum(s[:, 0] + s[:, 1], 1), s[:, 0] / np.maximum(s[:, 0] + s[:, 2], 1)
    return {"resamples": resamples, "samples": len(a),
            "object_f1": percentile_interval(2 * p * r / np.maximum(p + r, 1e-12)),
            "object_precision": percentile_interval(p), "object_recall": percentile_interval(r),
            "count_error": percentile_interval(s[:, 3] / len(a))}


def object_scores(rows: list[dict]) -> dict:
    tp, fp, fn = (sum(r[k] for r in rows) for k in ("tp", "fp", "fn"))
    p, r = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
    return {"object_precision": p, "object_recall": r, "object_f1": 2 * p * r / max(p + r, 1e-12),
            "count_error": float(np.mean([abs(r_["pred"] - r_["true"]) for r_ in rows])),
            "count_bias": float(np.mean([r_["pred"] - r_["true"] for r_ in rows]))}


# --- tiled inference ---

def tiled_logits(model, x: torch.Tensor, tile: int, overlap: int) -> torch.Tensor:
    """Logits of whole images from overlapping tiles, blended with weights that fall off linearly
    over the overlap, so that no seam shows. tile = 0: the whole image at once."""
    h, w = x.shape[-2:]
    if tile <= 0 or (h <= tile and w <= tile):
        return model(x)
    t_h, t_w = min(tile, h), min(tile, w)
    ramp = lambda n: torch.clamp(torch.minimum(torch.arange(1, n + 1), torch.arange(n, 0, -1)) / max(overlap, 1),  # noqa: E731
                                 max=1.0)
    win = (ramp(t_h)[:, None] * ramp(t_w)[None, :]).to(x.device)
    starts = lambda n, t: sorted({*range(0, n - t, t - overlap), n - t})  # noqa: E731
    out, weight = None, torch.zeros(h, w, device=x.device)
    for y0 in starts(h, t_h):
        for x0 in starts(w, t_w):
            z = model(x[..., y0:y0 + t_h, x0:x0 + t_w]).float()
            if out is None:
                out = torch.zeros(x.shape[0], z.shape[1], h, w, device=x.device)
            out[..., y0:y0 + t_h, x0:x0 + t_w] += z * win
            weight[y0:y0 + t_h, x0:x0 + t_w] += win
    return out / weight


class Segmentation(Task):
    validation_keys = {"dice": "max"}
    name = "segmentation"

    def __init__(self, spec: DataSpec, loss: str, patch: int, augment: bool, w0: float, sigma: float, min_size: int,
                 split_touching: bool, tile: int, overlap: int, threshold_by: str):
        super().__init__(spec)
        if spec.target != "mask":
            raise RecipeError("task 'segmentation' needs images with masks (e.g. data.name = 'synthetic_nuclei', "
                              "'sbsst265' or 'segmentation_folder').")
        if tile and overlap >= tile:
            raise RecipeError(f"task.overlap = {overlap} must be smaller than task.tile = {tile}.")
        self.loss_name, self.patch, self.augment, self.w0, self.sigma = loss, patch, augment, w0, sigma
        self.min_size, self.split_touching, self.tile, self.overlap = min_size, split_touching, tile, overlap
        self.threshold, self.threshold_by = 0.5, threshold_by
        self.val = None

    def output_size(self) -> int:
        return 1

    def output_shape(self):
        return (1, *self.spec.input_shape[1:]), "one logit per pixel: 1 channel at the input's height and width"

    def target_dtype(self):
        return torch.float32

    def adapt(self, data):
        """Targets become (N, 3, H, W): instance ids (−1 ignored), the training target (foreground
        with gaps between touching objects) and the pixel weights."""
        from dataclasses import replace

        s = data.split
        fg = (s.y_train > 0).sum() / max((s.y_train >= 0).sum(), 1)
        class_weights = (0.5 / max(1 - fg, 1e-6), 0.5 / max(fg, 1e-6))  # balanced classes, mean weight 1

        def targets(y, weighted):
            out = np.empty((len(y), 3, *y.shape[1:]), np.float32)
            for i, lab in enumerate(y):
                out[i, 0] = lab
                out[i, 1] = (lab > 0) & ~touching_borders(lab)
                out[i, 2] = weight_map(lab, self.w0, self.sigma, class_weights) if weighted else (lab >= 0)
            return out

        weighted = self.loss_name.startswith("weighted")
        split = replace(s, y_train=targets(s.y_train, weighted), y_val=targets(s.y_val, False),
                        y_test=targets(s.y_test, False))
        self.val = (split.x_val, split.y_val)
        objects = [int(len(np.unique(y[y > 0]))) for y in s.y_test]
        summary = {**data.summary, "segmentation": {
            "foreground_share": float(fg), "test_objects": int(sum(objects)),
            "objects_per_test_image": float(np.mean(objects)) if objects else 0.0,
            # object pixels turned into background gaps between touching objects, in the training targets
            "touching_border_share": float(((split.y_train[:, 0] > 0) & (split.y_train[:, 1] == 0)).sum()
                                           / max((split.y_train[:, 0] > 0).sum(), 1))}}
        return replace(data, split=split, summary=summary)

    # --- training ---

    def _augment(self, x, y):
        """The same random 90° rotation, flip and crop for images and targets (one draw per batch)."""
        xy = torch.cat([x, y], 1)
        if self.augment:
            k, flip = torch.randint(4, (2,)).tolist()
            xy = torch.rot90(xy, k, (2, 3))
            if flip % 2:
                xy = xy.flip(3)
        h, w = xy.shape[-2:]
        if self.patch and (self.patch < h or self.patch < w):
            p_h, p_w = min(self.patch, h), min(self.patch, w)
            y0, x0 = (torch.randint(n - p + 1, (1,)).item() for n, p in ((h, p_h), (w, p_w)))
            xy = xy[..., y0:y0 + p_h, x0:x0 + p_w]
        return xy[:, :x.shape[1]], xy[:, x.shape[1]:]

    def training_step(self, model, x, y):
        x, y = self._augment(x, y)
        return self.loss(model(x), y)

    def loss(self, outputs, y):
        logits, target, weight = outputs[:, 0].float(), y[:, 1], y[:, 2]
        valid = (y[:, 0] >= 0).float()
        total = 0.0
        if "bce" in self.loss_name:
            bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
            total = total + (bce * weight).sum() / valid.sum().clamp(min=1)
        if self.loss_name.endswith("dice"):
            p = torch.sigmoid(logits) * valid
            total = total + 1 - (2 * (p * target).sum() + 1) / (p.sum() + (target * valid).sum() + 1)
        return total

    # --- evaluation ---

    @torch.inference_mode()
    def logits(self, model, x, batch_size: int = 8):
        was = model.training
        model.eval()
        out = torch.cat([tiled_logits(model, x[i:i + batch_size], self.tile, self.overlap)
                         for i in range(0, len(x), batch_size)])
        model.train(was)
        return out

    def validate(self, model, x, y, batch_size):
        z = self.logits(model, x)
        c = pixel_counts((z[:, 0] > 0).cpu().numpy(), (y[:, 0] > 0).cpu().numpy())
        return {"loss": self.loss(z, y), "dice": torch.tensor(pixel_scores(c)["dice"])}

    def _choose_threshold(self, model, device) -> tuple[float, list[float]]:
        """The threshold that maximises pixel Dice or object F1 (task.threshold_by) on the validation split."""
        x, y = (torch.as_tensor(a).to(device) for a in self.val)
        prob = torch.sigmoid(self.logits(model, x)[:, 0]).cpu().numpy()
        labels = y[:, 0].cpu().numpy().astype(np.int32)
        valid, true = labels >= 0, labels > 0
        gts = [np.where(v, lab, 0) for v, lab in zip(valid, labels)]
        scores = []
        for t in THRESHOLDS:
            if self.threshold_by == "dice":
                scores.append(pixel_scores(pixel_counts((prob >= t) & valid, true))["dice"])
            else:
                rows = [match_objects(g, instances((p >= t) & v, self.min_size, self.split_touching))
                        for g, p, v in zip(gts, prob, valid)]
                scores.append(object_scores(rows)["object_f1"])
        return float(THRESHOLDS[int(np.argmax(scores))]), scores

    def segment(self, prob: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
        mask = prob >= self.threshold
        if valid is not None:
            mask &= valid
        return instances(mask, self.min_size, self.split_touching)

    def test(self, model, x, y, batch_size, choose: bool = True) -> dict:
        """The test metrics, at the threshold chosen on the validation split (`choose`), or at the one the
        task holds (an external test set: the run's own)."""
        self.threshold, val_score = self._choose_threshold(model, x.device) if choose else (self.threshold, None)
        prob = torch.sigmoid(self.logits(model, x)[:, 0]).cpu().numpy()
        labels, image = y[:, 0].cpu().numpy().astype(np.int32), x[:, 0].float().cpu().numpy()
        valid, true = labels >= 0, labels > 0
        pred = (prob >= self.threshold) & valid
        counts = pixel_counts(pred, true)
        curve = [pixel_scores(pixel_counts((prob >= t) & valid, true)) for t in THRESHOLDS]
        rows, base_rows, base_counts, self._pictures = [], [], {"tp": 0, "fp": 0, "fn": 0, "tn": 0}, []
        for i in range(len(x)):
            gt = np.where(valid[i], labels[i], 0)
            found = self.segment(prob[i], valid[i])
            m = match_objects(gt, found)
            c_i = pixel_counts(pred[i], true[i])
            rows.append({"image": i, "dice": pixel_scores(c_i)["dice"], **m, "count_error": m["pred"] - m["true"]})
            t = otsu(image[i][valid[i]])  # the classical baseline: Otsu threshold, connected components
            b_mask = (image[i] > t) & valid[i]
            base_rows.append(match_objects(gt, instances(b_mask, self.min_size, False)))
            for k, v in pixel_counts(b_mask, true[i]).items():
                base_counts[k] += v
            self._pictures.append((image[i], gt, found, rows[-1]["dice"]))
        return {"threshold": self.threshold, "threshold_by": self.threshold_by,
                "min_object_size": self.min_size, "split_touching": self.split_touching,
                **pixel_scores(counts), "confusion": counts, **object_scores(rows),
                "objects_true": sum(r["true"] for r in rows), "objects_found": sum(r["pred"] for r in rows),
                "baseline_otsu": {**pixel_scores(base_counts), **object_scores(base_rows)},
                "pr_curve": {"thresholds": THRESHOLDS.tolist(), "precision": [c["precision"] for c in curve],
                             "recall": [c["recall"] for c in curve], "val_score": val_score},
                "per_image": rows}

    def pictures(self, model, data, device) -> dict:
        out = self._training_pictures(data)
        if not getattr(self, "_pictures", None):
            return out
        order = np.argsort([p[3] for p in self._pictures])  # by pixel Dice, as in the per-image table
        pick = {"best": order[-1], "worst": order[0]}
        return out | {f"{k}_{part}": self._pictures[i][j] for k, i in pick.items()
                      for j, part in enumerate(("image", "true", "pred"))} | {"best_index": np.array(pick["best"]),
                                                                                "worst_index": np.array(pick["worst"])}

    def _training_pictures(self, data, n: int = 3) -> dict:
        """The first training images as the loss sees them: the image, its objects and its pixel weights,
        and one draw of the augmentation (each image its own; the run's random state left as it was)."""
        x, y = data.split.x_train[:n], data.split.y_train[:n]
        if not len(x):
            return {}
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            moved = [self._augment(torch.as_tensor(x[i:i + 1]), torch.as_tensor(y[i:i + 1])) for i in range(len(x))]
        k = -(-max(x.shape[-2:]) // SHOWN)  # every k-th pixel of larger images (labels stay whole numbers)
        augmented = {f"augmented_{i}_{part}": t[0, 0, ::k, ::k].numpy() for i, pair in enumerate(moved)  # each its own
                     for part, t in zip(("image", "labels"), pair)}  # key: a turned patch of an oblong image has its shape
        return {"train_image": x[:, 0, ::k, ::k], "train_labels": y[:, 0, ::k, ::k], "train_weights": y[:, 2, ::k, ::k],
                **augmented}


@TASKS.register("segmentation")
def segmentation(spec: DataSpec, context: dict, *,
                 loss: Literal["bce", "dice", "bce_dice", "weighted_bce", "weighted_bce_dice"] = "bce_dice",
                 patch: int = 0, augment: bool = True, w0: float = 10.0, sigma: float = 5.0, min_size: int = 10,
                 split_touching: bool = False, tile: int = 0, overlap: int = 32,
                 threshold_by: Literal["object_f1", "dice"] = "object_f1") -> Task:
    """Binary segmentation: BCE, Dice, BCE + Dice or the U-Net paper's boundary-weighted BCE (w0, sigma), alone or
    with Dice; random patches, flips and 90° rotations; the threshold that maximises object F1 or pixel Dice on
    validation; pixel and object (IoU ≥ 0.5) metrics."""
    return Segmentation(spec, loss, patch, augment, w0, sigma, min_size, split_touching, tile, overlap, threshold_by)
