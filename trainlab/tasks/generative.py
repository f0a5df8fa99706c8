"""GAN training and its honest measurement. Two optimisers step in the task's own training step:
the discriminator on real vs generated batches, then the generator with the non-saturating loss
−log D(G(z)). Quality is judged by a Fashion-MNIST classifier trained with trainlab (the judge):
its confidence and class histogram over generated samples, and the Fréchet distance between
generated and real images in its penultimate-layer features (Heusel et al., 2017)."""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..core.errors import RecipeError
from ..core.spec import DataSpec
from .base import TASKS, Task

GRID = 64  # samples from fixed noise rendered every epoch


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """‖μa − μb‖² + tr(Σa + Σb − 2(ΣaΣb)^½) between two sets of feature vectors."""
    from scipy import linalg

    mu_a, mu_b = a.mean(0), b.mean(0)
    eps = 1e-6 * np.eye(a.shape[1])  # dead units make a covariance singular
    ca, cb = np.cov(a, rowvar=False) + eps, np.cov(b, rowvar=False) + eps
    root = linalg.sqrtm(ca @ cb)
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(ca + cb - 2 * np.real(root)))


class Judge:
    """A trained classifier: class probabilities and penultimate features of inputs given in the
    GAN data's normalised units (converted to the judge's own preprocessing)."""

    def __init__(self, model, task, normalizer, spec: DataSpec, gan_normalizer, device):
        self.model, self.task = model.to(device).eval(), task
        shape = spec.input_shape
        gs, gk = (torch.as_tensor(a, device=device) for a in gan_normalizer.broadcast(shape))
        js, jk = (torch.as_tensor(a, device=device) for a in normalizer.broadcast(shape))
        self.convert = lambda x: (x.float() * gk + gs - js) / jk  # GAN units → raw → the judge's units
        last = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
        last.register_forward_hook(lambda mod, inp, out: setattr(self, "_features", inp[0]))

    @torch.inference_mode()
    def __call__(self, x, batch_size: int = 1000) -> tuple[np.ndarray, np.ndarray]:
        probs, feats = [], []
        for i in range(0, len(x), batch_size):
            out = self.model(self.convert(x[i:i + batch_size]))
            probs.append(self.task.probabilities(out).float().cpu())
            feats.append(self._features.float().cpu())
        return torch.cat(probs).numpy(), torch.cat(feats).double().numpy()


def class_statistics(probs: np.ndarray) -> dict:
    k = probs.shape[1]
    hist = np.bincount(probs.argmax(1), minlength=k) / len(probs)
    nz = hist[hist > 0]
    return {"mean_max_confidence": float(probs.max(1).mean()), "class_entropy": float(-(nz * np.log(nz)).sum()) + 0.0,
            "max_entropy": math.log(k), "class_histogram": hist.tolist()}


class GANTask(Task):
    name = "gan"
    validation_keys = {"class_entropy": "max", "confidence": "max"}  # diverse classes, each drawn convincingly
    manual = True

    def __init__(self, spec: DataSpec, normalizer, judge: str, judge_set: list[str], samples: int, val_samples: int):
        super().__init__(spec)
        if spec.target != "class":
            raise RecipeError("task 'gan' judges samples with a classifier of the same data: it needs class labels.")
        self.normalizer, self.judge_source, self.judge_set = normalizer, judge, judge_set
        self.samples, self.val_samples = samples, val_samples
        self.judge = None
        self._real_val = None

    def output_size(self) -> int:
        return self.spec.num_features

    def target_dtype(self):
        return torch.long

    def set_judge(self, model, task, normalizer, spec: DataSpec, device) -> None:
        if tuple(spec.input_shape) != tuple(self.spec.input_shape) or spec.num_classes != self.spec.num_classes:
            raise RecipeError(f"The judge classifier takes {spec.input_shape} inputs and {spec.num_classes} classes; "
                              f"the GAN's data has {self.spec.input_shape} and {self.spec.num_classes}. Give "
                              "task.judge a classifier recipe or run on the same dataset.")
        self.judge = Judge(model, task, normalizer, spec, self.normalizer, device)

    def optimizers(self, model, build) -> list:
        return [build(model.generator.parameters()), build(model.discriminator.parameters())]

    def manual_step(self, model, x, y, optimizers, backward):
        opt_g, opt_d = optimizers
        g, d = model.generator, model.discriminator
        fake = g(torch.randn(len(x), model.noise, device=x.device))
        real_logit, fake_logit = d(x), d(fake.detach())
        d_loss = (F.binary_cross_entropy_with_logits(real_logit.float(), torch.ones_like(real_logit, dtype=torch.float32))
                  + F.binary_cross_entropy_with_logits(fake_logit.float(), torch.zeros_like(fake_logit, dtype=torch.float32)))
        opt_d.zero_grad(set_to_none=True)
        backward(d_loss)
        opt_d.step()
        gen_logit = d(fake).float()
        g_loss = F.binary_cross_entropy_with_logits(gen_logit, torch.ones_like(gen_logit))  # −log D(G(z))
        opt_g.zero_grad(set_to_none=True)
        backward(g_loss)
        opt_g.step()
        return {"d_loss": d_loss, "g_loss": g_loss}

    def _noise(self, model, n: int, seed: int, device):
        return torch.randn(n, model.noise, generator=torch.Generator().manual_seed(seed)).to(device)

    @torch.inference_mode()
    def generate(self, model, n: int, seed: int, device, batch_size: int = 1000):
        was = model.training
        model.eval()
        z = self._noise(model, n, seed, device)
        out = torch.cat([model.generator(z[i:i + batch_size]).float() for i in range(0, n, batch_size)])
        model.train(was)
        return out

    def validate(self, model, x, y, batch_size):
        """Validation "loss" is the Fréchet distance of samples from fixed noise to the validation
        images: early stopping keeps the generator that is closest to real data."""
        if self.judge is None:
            raise RecipeError("task 'gan' needs its judge classifier before training (task.judge).")
        n = min(self.val_samples, len(x))
        if self._real_val is None:
            self._real_val = self.judge(x[:n])[1]
        probs, feats = self.judge(self.generate(model, n, 1, x.device))
        stats = class_statistics(probs)
        return {"loss": torch.tensor(frechet_distance(feats, self._real_val)),
                "class_entropy": torch.tensor(stats["class_entropy"]),
                "confidence": torch.tensor(stats["mean_max_confidence"])}

    def epoch_pictures(self, model):
        dev = next(model.parameters()).device
        return {"samples": self._raw(self.generate(model, GRID, 0, dev))}

    def _raw(self, x):
        return np.clip(self.normalizer.invert(x.cpu().numpy()), 0, 255).round().astype(np.uint8)

    def test(self, model, x, y, batch_size) -> dict:
        probs, feats = self.judge(self.generate(model, self.samples, 2, x.device))
        real_probs, real_feats = self.judge(x)
        stats = class_statistics(probs)
        n = len(x) // 2  # the floor: two halves of the real test set
        hist = np.asarray(stats["class_histogram"])
        collapsed = stats["class_entropy"] < 0.5 * stats["max_entropy"] or hist.max() > 0.5
        return {"fid_judge": frechet_distance(feats, real_feats), "fid_real_halves": frechet_distance(real_feats[:n], real_feats[n:]),
                **stats, "real_mean_max_confidence": float(real_probs.max(1).mean()),
                "judge_test_accuracy": float((real_probs.argmax(1) == y.cpu().numpy()).mean()),
                "samples": self.samples, "mode_collapse": bool(collapsed),
                "verdict": (f"mode collapse: {hist.max():.0%} of samples are one class ({self.spec.class_names[int(hist.argmax())]})"
                            if collapsed else "no mode collapse: the samples cover the classes")}

    def pictures(self, model, data, device) -> dict:
        return {"samples": self._raw(self.generate(model, GRID, 0, device))}


@TASKS.register("gan")
def gan(spec: DataSpec, context: dict, *, judge: str = "recipes/judge-fashion.toml", judge_set: list[str] = [],
        samples: int = 10000, val_samples: int = 2000) -> Task:
    """GAN: discriminator and generator steps (non-saturating loss); judged by a trainlab classifier (a recipe
    trained into the run's judge/ folder, or a finished run directory): Fréchet distance, confidence, class entropy."""
    return GANTask(spec, context["normalizer"], judge, judge_set, samples, val_samples)
