"""Density estimation by maximum likelihood (normalizing flows). The model returns log p(u) of the
normalised inputs u = (x − shift)/scale; in the data's own units log p(x) = log p(u) − Σ log scale,
so reported NLLs are in nats per sample of the data as given. A full-covariance Gaussian fitted on
the training split is the baseline; when the dataset knows its true density, the true entropy and
the true NLL of the same test points are reported too, so the gap is visible."""
from __future__ import annotations

import math

import numpy as np
import torch

from ..core.errors import RecipeError
from ..core.spec import DataSpec
from ..data.datasets import mixture_log_density
from .base import TASKS, Task, infer, surprise_summary

GRID = 120  # density maps are GRID × GRID


def gaussian_nll(train: np.ndarray, test: np.ndarray) -> float:
    """Test NLL of a full-covariance Gaussian fitted on the training points."""
    from scipy.stats import multivariate_normal

    cov = np.atleast_2d(np.cov(train, rowvar=False)) + 1e-6 * np.eye(train.shape[1])
    return float(-multivariate_normal(train.mean(0), cov, allow_singular=True).logpdf(test).mean())


class Density(Task):
    name = "density"
    surprise_name = "nll"

    def __init__(self, spec: DataSpec, normalizer):
        super().__init__(spec)
        if spec.kind not in ("table", "points"):
            raise RecipeError(f"task 'density' models feature vectors (tables, points), not {spec.kind}.")
        self.normalizer = normalizer
        self.log_scale = float(np.log(np.asarray(normalizer.scale, np.float64)).sum()) if normalizer.scale else 0.0
        self.truth, self.x_train = None, None

    def output_size(self) -> int:
        return 1

    def target_dtype(self):
        return torch.long if self.spec.target == "class" else torch.float32

    def adapt(self, data):
        self.truth = data.summary.get("truth")
        self.x_train = data.split.x_train.astype(np.float64)  # normalised: well-conditioned covariance
        return data

    def loss(self, outputs, y):
        return -outputs.float().mean()  # NLL of the normalised data, nats per sample

    def surprise(self, model, x, batch_size) -> np.ndarray:
        """Each input's negative log-likelihood, nats, in the data's own units."""
        return -(infer(model, x, batch_size).double().cpu().numpy().reshape(len(x)) - self.log_scale)

    def test(self, model, x, y, batch_size) -> dict:
        logp = -self.surprise(model, x, batch_size)
        raw = self.normalizer.invert(x.cpu().numpy()).astype(np.float64)
        d = raw.shape[1]
        out = {"nll": float(-logp.mean()), "nll_se": float(logp.std() / math.sqrt(len(logp))),
               **surprise_summary(-logp),
               "bits_per_dim": float(-logp.mean() / d / math.log(2)), "dimensions": d,
               "gaussian_nll": gaussian_nll(self.x_train, x.double().cpu().numpy()) + self.log_scale}
        if self.truth:
            true_logp = mixture_log_density(self.truth, raw)
            out.update(true_entropy=self.truth["entropy"], true_nll=float(-true_logp.mean()),
                       gap_to_truth=float(-logp.mean() + true_logp.mean()),
                       gap_to_entropy=float(-logp.mean() - self.truth["entropy"]))
        return out

    @torch.inference_mode()
    def pictures(self, model, data, device) -> dict:
        raw_test = self.normalizer.invert(data.split.x_test).astype(np.float64)
        d = raw_test.shape[1]
        if d > 2:
            return {}
        torch.manual_seed(0)
        was = model.training
        model.eval()
        samples = self.normalizer.invert(model.sample(2000).float().cpu().numpy())
        lo, hi = raw_test.min(0), raw_test.max(0)
        lo, hi = lo - 0.15 * (hi - lo), hi + 0.15 * (hi - lo)
        axes = [np.linspace(lo[j], hi[j], GRID if d == 2 else 400) for j in range(d)]
        points = np.stack(np.meshgrid(*axes, indexing="xy"), -1).reshape(-1, d)  # row-major over (y, x)
        u = torch.as_tensor(self.normalizer.apply(points.astype(np.float32))).to(device)
        logp = infer(model, u, 4096).double().cpu().numpy() - self.log_scale
        model.train(was)
        out = {"grid_x": axes[0], "density": np.exp(logp), "samples": samples, "test_points": raw_test}
        if d == 2:
            out["grid_y"] = axes[1]
        if self.truth:
            out["true_density"] = np.exp(mixture_log_density(self.truth, points))
        return out


@TASKS.register("density")
def density(spec: DataSpec, context: dict) -> Task:
    """Density estimation: minimise the negative log-likelihood (normalizing flows); test NLL in nats."""
    return Density(spec, context["normalizer"])
