"""Classification: binary (one logit, binary cross-entropy), multi-class (softmax
cross-entropy), or the perceptron criterion max(0, −t·z) whose SGD step is Rosenblatt's rule."""
from __future__ import annotations

import math
from typing import Literal, Union

import numpy as np
import torch
import torch.nn.functional as F

from ..core.errors import RecipeError
from ..core.spec import DataSpec
from .base import TASKS, Task, loss_key, user_loss

PR_POINTS = 101  # thresholds on the precision-recall curves
OWN_LOSSES = ("auto", "ce", "bce", "perceptron")  # this task's own; task.loss may also name a registered one


class Classification(Task):
    name = "classification"
    graph_safe = True
    supervised = True
    validation_keys = {"accuracy": "max"}

    def __init__(self, spec: DataSpec, loss: str = "auto", label_smoothing: float = 0.0, class_weights=None,
                 threshold: float | str = 0.5):
        super().__init__(spec)
        if spec.target != "class":
            raise RecipeError(f"task 'classification' needs class labels, but this dataset's target is {spec.target!r}. "
                              "Use task.name = 'regression' (or 'auto').")
        k = spec.num_classes
        # a registered loss of the user's: on K logits and integer labels, as cross-entropy
        self.custom = user_loss(loss, OWN_LOSSES, torch.zeros(2, k), torch.arange(2) % k)
        if self.custom is not None and (label_smoothing or class_weights is not None):
            raise RecipeError("task.label_smoothing and task.class_weights are for the cross-entropy losses; a loss of "
                              "your own takes its keys: task.loss = { name = \"...\", ... }.")
        loss = loss if isinstance(loss, str) else loss["name"]
        if loss == "auto":
            loss = "bce" if k == 2 else "ce"
        if loss in ("bce", "perceptron") and k != 2:
            raise RecipeError(f"task.loss = {loss!r} is for two classes; this dataset has {k}. Use 'ce'.")
        self.loss_name, self.label_smoothing = loss, label_smoothing
        self.binary = loss in ("bce", "perceptron")
        # per-class loss weights (task.class_weights = "balanced"); the written-out gradient has none
        self.class_weights = None if class_weights is None else torch.as_tensor(class_weights, dtype=torch.float32)
        self._weights_on: dict = {}
        self.written_gradient = loss in ("ce", "bce") and self.class_weights is None
        # binary: predict the second class when its probability exceeds the threshold; "youden" or "f1":
        # the threshold is chosen on the validation split after training (choose_threshold)
        self.threshold_by = threshold if isinstance(threshold, str) else None
        self.threshold = 0.5 if self.threshold_by else float(threshold)
        if (self.threshold_by or self.threshold != 0.5) and not self.binary:
            raise RecipeError(f"task.threshold is for two classes (one logit); this dataset has {k}.")
        if not 0 < self.threshold < 1:
            raise RecipeError(f"task.threshold = {threshold} is not a probability strictly between 0 and 1.")

    def output_size(self) -> int:
        return 1 if self.binary else self.spec.num_classes

    def output_shape(self):
        return (self.output_size(),), "one score (logit) per class: out_features, 1 for two classes"

    def target_dtype(self):
        return torch.long

    def _weights(self, device):
        """The class weights on `device`, copied there once (a captured step must not copy from the host)."""
        if device not in self._weights_on:
            self._weights_on[device] = self.class_weights.to(device)
        return self._weights_on[device]

    def loss(self, outputs, y):
        if self.custom is not None:
            return self.custom(outputs, y)
        w = None if self.class_weights is None else self._weights(outputs.device)
        if self.loss_name == "ce":
            return F.cross_entropy(outputs, y, weight=w, label_smoothing=self.label_smoothing)
        z = outputs.squeeze(-1)
        if self.loss_name == "bce":
            t = self._bce_target(y, z.dtype)
            if w is None:
                return F.binary_cross_entropy_with_logits(z, t)
            wy = w[y].to(z.dtype)  # each sample weighted by its class; a weighted mean, as cross_entropy takes it
            return (F.binary_cross_entropy_with_logits(z, t, reduction="none") * wy).sum() / wy.sum()
        return F.relu(-(2 * y.to(z.dtype) - 1) * z).mean()  # perceptron criterion

    def _bce_target(self, y, dtype):
        """The binary target, smoothed towards ½ by label_smoothing."""
        t = y.to(dtype)
        return t * (1 - self.label_smoothing) + 0.5 * self.label_smoothing if self.label_smoothing else t

    def loss_gradient(self, outputs, y):
        """The loss of `loss` and its gradient: (softmax(z) − q) / B for cross-entropy, where q is the
        one-hot target smoothed towards uniform; (σ(z) − t) / B for binary cross-entropy."""
        b, eps = len(y), self.label_smoothing
        if self.loss_name == "bce":
            z = outputs.squeeze(-1)
            t = self._bce_target(y, z.dtype)
            return F.binary_cross_entropy_with_logits(z, t), ((torch.sigmoid(z) - t) / b).unsqueeze(-1)
        logp = torch.log_softmax(outputs, 1)  # (B, K)
        loss = F.nll_loss(logp, y)
        if eps:
            loss = (1 - eps) * loss - eps * logp.mean(1).mean()
        g = logp.exp_()  # softmax, in place: logp is not needed after the loss
        g.scatter_add_(1, y.unsqueeze(1), torch.full((b, 1), eps - 1, dtype=g.dtype, device=g.device))
        if eps:
            g.sub_(eps / g.shape[1])
        return loss, g.div_(b)

    def class_logits(self, outputs) -> torch.Tensor:
        """(B, K) logits, one per class, also for one-logit binary outputs: softmax([0, z]) = (1 − σ(z), σ(z))."""
        if self.binary:
            z = outputs.float().reshape(-1, 1)
            return torch.cat([torch.zeros_like(z), z], 1)
        return outputs.float()

    def probabilities(self, outputs) -> torch.Tensor:
        """(B, K) class probabilities."""
        return torch.softmax(self.class_logits(outputs), -1)

    def predict(self, outputs) -> torch.Tensor:
        if self.binary:  # σ(z) > t  ⇔  z > log(t / (1 − t))
            return (outputs.squeeze(-1) > math.log(self.threshold / (1 - self.threshold))).long()
        return outputs.argmax(-1)

    def choose_threshold(self, outputs, y) -> float:
        """The probability threshold that maximises Youden's J (sensitivity + specificity − 1) or the
        second class's F1 (task.threshold = "youden" | "f1") on these (validation) outputs."""
        p = torch.sigmoid(outputs.float().squeeze(-1)).cpu().numpy()
        t = y.cpu().numpy().astype(bool)
        u = np.unique(p)
        candidates = np.unique(np.concatenate([(u[:-1] + u[1:]) / 2, [0.5]]))  # between observed probabilities
        # counts above each candidate from the sorted probabilities: O(N log N), not a candidates × N table
        order = np.argsort(p, kind="stable")
        below = np.searchsorted(p[order], candidates, side="right")  # how many probabilities are ≤ each candidate
        pos_below = np.concatenate([[0], np.cumsum(t[order])])[below]
        tp, fp = t.sum() - pos_below, (len(p) - below) - (t.sum() - pos_below)
        fn, tn = t.sum() - tp, (~t).sum() - fp
        with np.errstate(invalid="ignore", divide="ignore"):
            score = (tp / np.maximum(tp + fn, 1) + tn / np.maximum(tn + fp, 1) - 1 if self.threshold_by == "youden"
                     else 2 * tp / np.maximum(2 * tp + fp + fn, 1))
        best = np.flatnonzero(score == score.max())
        return float(candidates[best[np.argmin(np.abs(candidates[best] - 0.5))]])  # ties: the one nearest ½

    def quick_metrics(self, outputs, y):
        return {"accuracy": (self.predict(outputs) == y).float().mean()}

    def test_metrics(self, outputs, y) -> dict:
        from torchmetrics import functional as M

        from ..evaluate.robustness import agreement

        k = self.spec.num_classes
        probs, pred = self.probabilities(outputs).cpu(), self.predict(outputs).cpu()
        y = y.cpu()
        kw = dict(task="multiclass", num_classes=k)
        per = {n: getattr(M, n)(pred, y, average="none", **kw).tolist() for n in ("precision", "recall", "f1_score")}
        pr_p, pr_r, pr_t = M.precision_recall_curve(probs, y, thresholds=PR_POINTS, **kw)
        ap = M.average_precision(probs, y, average="none", thresholds=PR_POINTS, **kw)
        cm = M.confusion_matrix(pred, y, **kw)
        # a class the test set lacks has no recall or average precision (torchmetrics would count 0): the macro
        # means are over the classes there (recall) or there or predicted (precision, F1), as scikit-learn's
        present = (cm.sum(1) > 0).tolist()
        seen = [a or b for a, b in zip(present, (cm.sum(0) > 0).tolist())]
        per["average_precision"] = ap.tolist()
        for name, where in (("recall", present), ("average_precision", present), ("precision", seen), ("f1_score", seen)):
            per[name] = [v if w else None for v, w in zip(per[name], where)]
        out = {
            "loss": float(self.loss(outputs.float(), y.to(outputs.device)).item()),
            "accuracy": float((pred == y).float().mean()),
            "balanced_accuracy": _mean(per["recall"]),
            "precision_macro": _mean(per["precision"]),
            "recall_macro": _mean(per["recall"]),
            "f1_macro": _mean(per["f1_score"]),
            "average_precision_macro": _mean(per["average_precision"]),
            **dict(zip(("mcc", "cohen_kappa"), map(float, agreement(cm.double().numpy())))),
            "confusion_matrix": cm.tolist(),
            "per_class": {name: {"precision": per["precision"][i], "recall": per["recall"][i], "f1": per["f1_score"][i],
                                 "support": int(cm[i].sum()), "average_precision": per["average_precision"][i]}
                          for i, name in enumerate(self.spec.class_names)},
            "pr_curves": {"thresholds": pr_t.tolist(), "precision": pr_p.tolist(), "recall": pr_r.tolist()},
        }
        if k == 2 and all(present):  # ranking needs both classes in the test set
            out["roc_auc"] = float(M.auroc(probs[:, 1], y, task="binary"))
        return out


def _mean(values: list) -> float:
    """The mean of the values that are defined (not None)."""
    there = [v for v in values if v is not None]
    return float(np.mean(there)) if there else float("nan")


@TASKS.register("classification")
def classification(spec: DataSpec, context: dict, *, loss: loss_key(OWN_LOSSES) = "auto",
                   label_smoothing: float = 0.0, class_weights: Literal["none", "balanced"] = "none",
                   threshold: Union[float, Literal["youden", "f1"]] = 0.5) -> Task:
    """Binary or multi-class classification: accuracy, confusion matrix, per-class P/R/F1, PR curves.
    class_weights = "balanced" weights each class's loss by N / (K · its training count), so rare
    classes count as much as common ones (the loss is then a weighted mean). Binary: threshold is
    the probability of the second class above which it is predicted, or "youden" / "f1" to choose
    it on the validation split."""
    weights = None
    if class_weights == "balanced" and context.get("y_train") is not None:  # prediction needs no loss
        if loss == "perceptron":
            raise RecipeError("task.class_weights is for the cross-entropy losses; the perceptron criterion has none.")
        counts = np.bincount(np.asarray(context["y_train"]), minlength=spec.num_classes)
        if (counts == 0).any():
            raise RecipeError(f"task.class_weights = 'balanced': class {spec.class_names[int(np.argmin(counts))]!r} "
                              "has no training sample, so no weight.")
        weights = len(context["y_train"]) / (spec.num_classes * counts)
    return Classification(spec, loss, label_smoothing, weights, threshold)
