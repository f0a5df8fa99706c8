"""Regression on standardised targets; metrics are reported in the data's own units."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..core.errors import RecipeError
from ..core.spec import DataSpec
from .base import TASKS, Task, loss_key, user_loss

_LOSSES = {"mse": F.mse_loss, "mae": F.l1_loss, "huber": F.huber_loss}


class Regression(Task):
    validation_keys = {"mae": "min", "rmse": "min"}
    name = "regression"
    graph_safe = True
    supervised = True

    def __init__(self, spec: DataSpec, loss: str = "mse", target_shift: float = 0.0, target_scale: float = 1.0):
        super().__init__(spec)
        if spec.target != "real":
            raise RecipeError("task 'regression' needs real-valued targets, but this dataset has class labels. "
                              "Use task.name = 'classification' (or 'auto').")
        # a registered loss of the user's: on standardised outputs and targets of the same shape
        shape = (2, spec.num_targets) if spec.num_targets > 1 else (2,)
        self.custom = user_loss(loss, tuple(_LOSSES), torch.zeros(shape), torch.zeros(shape))
        loss = loss if isinstance(loss, str) else loss["name"]
        self.loss_name, self.shift, self.scale = loss, target_shift, target_scale

    def output_size(self) -> int:
        return self.spec.num_targets

    def output_shape(self):
        return (self.output_size(),), "one value per target: out_features"

    def target_dtype(self):
        return torch.float32

    def loss(self, outputs, y):
        return (self.custom or _LOSSES[self.loss_name])(outputs.float().reshape(y.shape), y)

    def to_units(self, t: torch.Tensor) -> torch.Tensor:
        return t.float() * self.scale + self.shift

    def predict(self, outputs) -> torch.Tensor:
        return self.to_units(outputs)

    def quick_metrics(self, outputs, y):
        err = self.to_units(outputs.reshape(y.shape)) - self.to_units(y)
        return {"mae": err.abs().mean(), "rmse": err.pow(2).mean().sqrt()}

    def test_metrics(self, outputs, y) -> dict:
        from torchmetrics import functional as M

        pred, true = self.to_units(outputs.reshape(y.shape)).cpu(), self.to_units(y).cpu()
        return {
            "loss": float(self.loss(outputs, y).item()),
            "mse": float(M.mean_squared_error(pred, true)),
            "rmse": float(M.mean_squared_error(pred, true).sqrt()),
            "mae": float(M.mean_absolute_error(pred, true)),
            # each target's R², averaged (as scikit-learn's, for the baselines); undefined (NaN, as there) for
            # fewer than two test samples
            "r2": float(M.r2_score(pred.reshape(len(true), -1), true.reshape(len(true), -1))) if len(true) > 1
            else float("nan"),
            # how often the prediction lies above the truth: about ½ for a mean or median, q for a q-quantile
            "share_below_prediction": float((true < pred).float().mean()),
            "predictions": {"true": true.flatten().tolist()[:2000], "pred": pred.flatten().tolist()[:2000]},
        }

    def state(self) -> dict:
        return {"target_shift": self.shift, "target_scale": self.scale}


@TASKS.register("regression")
def regression(spec: DataSpec, context: dict, *, loss: loss_key(tuple(_LOSSES)) = "mse") -> Task:
    """Regression: MSE/MAE/Huber loss; MSE, RMSE, MAE and R² in the target's units."""
    norm = context.get("normalizer")
    shift, scale = (norm.target_shift, norm.target_scale) if norm is not None else (0.0, 1.0)
    return Regression(spec, loss, shift, scale)
