"""Learning without labels by reconstruction: the autoencoder (plain, denoising, anomaly detection)
and the variational autoencoder (ELBO = reconstruction − β·KL). Targets are the inputs; labels are
used only to hold classes out as anomalies and to colour latent maps."""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from ..core.errors import RecipeError
from ..core.spec import DataSpec
from .base import TASKS, Task, infer, surprise_summary

PICTURES = 10  # test samples shown as input / reconstruction


class Reconstruction(Task):
    name = "reconstruction"
    graph_safe = True
    surprise_name = "reconstruction_error"

    def __init__(self, spec: DataSpec, normalizer, loss: str, noise: float, anomaly_classes: list[int]):
        super().__init__(spec)
        self.normalizer, self.loss_name, self.noise = normalizer, loss, noise
        self.anomaly_classes = sorted(set(anomaly_classes))
        bad = [c for c in self.anomaly_classes if not 0 <= c < spec.num_classes]
        if self.anomaly_classes and spec.target != "class":
            raise RecipeError("task.anomaly_classes holds classes out, but this dataset has no class labels.")
        if bad:
            raise RecipeError(f"task.anomaly_classes: class {bad[0]} does not exist; this dataset has "
                              f"{spec.num_classes} classes (0..{spec.num_classes - 1}).")
        if len(self.anomaly_classes) >= max(spec.num_classes, 1):
            raise RecipeError("task.anomaly_classes holds out every class: nothing normal is left to train on.")
        self.lo, self.hi = 0.0, 1.0

    def output_size(self) -> int:
        return self.spec.num_features

    def output_shape(self):
        return tuple(self.spec.input_shape), "a reconstruction of each input, in its shape"

    def target_dtype(self):
        return torch.long if self.spec.target == "class" else torch.float32

    # --- data ---

    def adapt(self, data):
        """Anomaly detection trains and validates on normal classes only; the test keeps them all."""
        s = data.split
        self.lo, self.hi = float(s.x_train.min()), float(s.x_train.max())  # noisy inputs are clipped to this range
        if not self.anomaly_classes:
            return data
        keep_tr, keep_va = ~np.isin(s.y_train, self.anomaly_classes), ~np.isin(s.y_val, self.anomaly_classes)
        split = replace(s, x_train=s.x_train[keep_tr], y_train=s.y_train[keep_tr], x_val=s.x_val[keep_va],
                        y_val=s.y_val[keep_va])
        names = [self.spec.class_names[c] for c in self.anomaly_classes]
        summary = {**data.summary, "anomaly": {
            "held_out": names, "train_normal": int(keep_tr.sum()), "val_normal": int(keep_va.sum()),
            "test_anomalous": int(np.isin(s.y_test, self.anomaly_classes).sum()), "test": len(s.y_test)}}
        summary["sizes"] = {**summary["sizes"], "train": int(keep_tr.sum()), "val": int(keep_va.sum())}
        return replace(data, split=split, summary=summary)

    def corrupt(self, x, generator=None):
        """x + σ·ε, clipped to the training data's range (a denoising autoencoder's input)."""
        if not self.noise:
            return x
        eps = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype) if generator is not None \
            else torch.randn_like(x)
        return (x + self.noise * eps).clamp(self.lo, self.hi)

    def _fixed_noise(self, x):
        """The same corruption at every validation and at the test, so their losses compare."""
        g = torch.Generator(device=x.device).manual_seed(1234)
        return self.corrupt(x, g)

    # --- loss ---

    def per_sample(self, recon, x):
        if self.loss_name == "bce":
            err = F.binary_cross_entropy(recon.float().clamp(1e-6, 1 - 1e-6), x.float(), reduction="none")
        else:
            err = (recon.float() - x.float()).square()
        return err.reshape(len(x), -1).mean(1)

    def loss(self, outputs, x):
        return self.per_sample(outputs, x).mean()

    def reconstruct(self, model, x, batch_size) -> torch.Tensor:
        """Each input's reconstruction (normalised units), of the input as it is: no noise added."""
        return infer(model, x, batch_size)

    def reconstructed(self, model, x, batch_size) -> tuple[torch.Tensor, np.ndarray]:
        """(each input's reconstruction, its reconstruction error: the loss's, per value)."""
        recon = self.reconstruct(model, x, batch_size)
        return recon, self.per_sample(recon, x).cpu().numpy()

    def surprise(self, model, x, batch_size) -> np.ndarray:
        return self.reconstructed(model, x, batch_size)[1]

    def _surprise(self, score: np.ndarray, y) -> dict:
        """The test samples' reconstruction errors, summarised: of the normal ones where classes are held out
        as anomalies (an input is then unusual among normal ones)."""
        if self.anomaly_classes:
            score = score[~np.isin(y.cpu().numpy(), self.anomaly_classes)]
        return surprise_summary(score)

    def training_step(self, model, x, y):
        return self.loss(model(self.corrupt(x)), x)

    def validate(self, model, x, y, batch_size):
        return {"loss": self.loss(infer(model, self._fixed_noise(x), batch_size), x)}

    # --- test ---

    def _raw(self, x):
        """Normalised tensor → the data's own units (numpy)."""
        return self.normalizer.invert(x.float().cpu().numpy())

    def test(self, model, x, y, batch_size) -> dict:
        """MSE and PSNR in normalised units (peak: the clean test data's range, 1 for minmax pixels)."""
        noisy = self._fixed_noise(x)
        recon = infer(model, noisy, batch_size)
        peak = float(x.max() - x.min()) or 1.0
        mse = float((recon.float() - x.float()).square().mean())
        d, m = self.spec.num_features, getattr(model, "latent", 0)
        score = self.surprise(model, x, batch_size) if self.noise else self.per_sample(recon, x).cpu().numpy()
        out = {"loss": float(self.loss(recon, x)), "mse": mse, "psnr": _psnr(mse, peak), "peak": peak,
               **self._surprise(score, y),
               "compression": {"input_values": d, "latent_values": m, "ratio": d / m if m else None,
                               "input_bits": 8 * d if self.spec.kind == "image" else 32 * d, "latent_bits": 32 * m}}
        if self.noise:
            noisy_psnr = _psnr(float((noisy.float() - x.float()).square().mean()), peak)
            out.update(noise=self.noise, noisy_psnr=noisy_psnr, psnr_gain=out["psnr"] - noisy_psnr)
        if self.anomaly_classes:
            a = self._anomaly(score, y)
            interval = {"resamples": 1000, "samples": len(score), "roc_auc": a.pop("roc_auc_interval")}
            out.update(roc_auc=a.pop("roc_auc"), pr_auc=a.pop("pr_auc"), anomaly=a, bootstrap=interval)
        return out

    def _anomaly(self, score: np.ndarray, y) -> dict:
        """The held-out classes found by each test sample's reconstruction error (`score`)."""
        from sklearn.metrics import average_precision_score, roc_auc_score

        from ..evaluate.robustness import auc_interval

        labels = np.isin(y.cpu().numpy(), self.anomaly_classes)
        per_class = {self.spec.class_names[c]: float(score[y.cpu().numpy() == c].mean())
                     for c in range(self.spec.num_classes) if (y == c).any()}
        self._scores = (score[~labels], score[labels])
        return {"held_out": [self.spec.class_names[c] for c in self.anomaly_classes],
                "roc_auc": float(roc_auc_score(labels, score)), "roc_auc_interval": auc_interval(labels, score),
                "pr_auc": float(average_precision_score(labels, score)),
                "anomalous_share": float(labels.mean()), "mean_error_by_class": per_class}

    def pictures(self, model, data, device) -> dict:
        out = {}
        if self.spec.kind == "image":
            x = torch.as_tensor(data.split.x_test[:PICTURES]).to(device)
            noisy = self._fixed_noise(x)
            out = {"clean": self._raw(x), "reconstructed": self._raw(infer(model, noisy, PICTURES))}
            if self.noise:
                out["noisy"] = self._raw(noisy)
        if self.anomaly_classes and hasattr(self, "_scores"):
            out["scores_normal"], out["scores_anomalous"] = self._scores
        return out


def _psnr(mse: float, peak: float) -> float:
    return 10 * math.log10(peak ** 2 / max(mse, 1e-12))


@TASKS.register("reconstruction")
def reconstruction(spec: DataSpec, context: dict, *, loss: Literal["mse", "bce"] = "mse", noise: float = 0.0,
                   anomaly_classes: list[int] = []) -> Task:
    """Autoencoder: reconstruct the input (from a noisy copy when noise > 0); anomaly_classes are held out of
    training and scored by reconstruction error at test."""
    return Reconstruction(spec, context["normalizer"], loss, noise, anomaly_classes)


class VariationalAE(Reconstruction):
    validation_keys = {"kl": "min"}
    """Loss per sample: summed reconstruction error + β·KL(q(z|x) ‖ N(0, I)), in nats."""
    name = "vae"

    def __init__(self, spec, normalizer, loss, beta):
        super().__init__(spec, normalizer, loss, 0.0, [])
        self.beta = beta

    def terms(self, outputs, x):
        recon, mu, logvar = outputs
        if self.loss_name == "bce":
            rec = F.binary_cross_entropy(recon.float().clamp(1e-6, 1 - 1e-6), x.float(), reduction="none")
        else:  # a unit-variance Gaussian decoder: ½‖x − x̂‖² + const
            rec = 0.5 * (recon.float() - x.float()).square()
        rec = rec.reshape(len(x), -1).sum(1)
        kl = 0.5 * (mu.float().square() + logvar.float().exp() - 1 - logvar.float()).sum(1)
        return rec, kl

    def loss(self, outputs, x):
        rec, kl = self.terms(outputs, x)
        return (rec + self.beta * kl).mean()

    def training_step(self, model, x, y):
        return self.loss(model(x), x)

    @torch.inference_mode()
    def reconstruct(self, model, x, batch_size) -> torch.Tensor:
        """Each input's reconstruction through its latent mean (normalised units)."""
        was = model.training
        model.eval()
        out = torch.cat([model.decode(model.encode(x[i:i + batch_size])[0]) for i in range(0, len(x), batch_size)])
        model.train(was)
        return out

    def validate(self, model, x, y, batch_size):
        rec, kl = self.terms(infer(model, x, batch_size), x)
        return {"loss": (rec + self.beta * kl).mean(), "kl": kl.mean()}

    @torch.inference_mode()
    def test(self, model, x, y, batch_size) -> dict:
        was = model.training
        model.eval()
        rec_s, kl_s, err, score = [], [], [], []
        for i in range(0, len(x), batch_size):  # the ELBO with a sampled z, as it is defined
            xb = x[i:i + batch_size]
            mu, logvar = model.encode(xb)
            recon = model.decode(model.reparameterise(mu, logvar))
            rec, kl = self.terms((recon, mu, logvar), xb)
            rec_s.append(rec), kl_s.append(kl)
            through_mean = model.decode(mu)
            err.append((through_mean.float() - xb.float()).square().reshape(len(xb), -1).mean(1))
            score.append(self.per_sample(through_mean, xb))  # (as surprise gives it)
        model.train(was)
        rec, kl, err = torch.cat(rec_s), torch.cat(kl_s), torch.cat(err)
        return {"loss": float((rec + self.beta * kl).mean()), "elbo": float(-(rec + kl).mean()),
                "reconstruction": float(rec.mean()), "kl": float(kl.mean()), "mse": float(err.mean()),
                **self._surprise(torch.cat(score).cpu().numpy(), y),
                "beta": self.beta, "latent": model.latent}

    @torch.inference_mode()
    def pictures(self, model, data, device) -> dict:
        model.eval()
        g = torch.Generator(device="cpu").manual_seed(0)
        out = {"prior_samples": self._raw(model.decode(torch.randn(64, model.latent, generator=g).to(device)))}
        x = torch.as_tensor(data.split.x_test[:2000]).to(device)
        out["clean"] = self._raw(x[:PICTURES])
        out["reconstructed"] = self._raw(model.decode(model.encode(x[:PICTURES])[0]))
        if model.latent == 2:  # the course's 2-D latent map: decode a grid, and where the test images land
            side = torch.linspace(-2.5, 2.5, 15)
            zz = torch.stack(torch.meshgrid(side, -side, indexing="xy"), -1).reshape(-1, 2)  # (225, 2), rows top→bottom
            out["latent_grid"] = self._raw(model.decode(zz.to(device)))
            out["latent_mu"] = model.encode(x)[0].float().cpu().numpy()
            out["latent_labels"] = np.asarray(data.split.y_test[:2000])
        return out


@TASKS.register("vae")
def vae(spec: DataSpec, context: dict, *, loss: Literal["bce", "mse"] = "bce", beta: float = 1.0) -> Task:
    """Variational autoencoder: maximise the ELBO = E[log p(x|z)] − β·KL(q(z|x) ‖ p(z)); samples from the prior."""
    return VariationalAE(spec, context["normalizer"], loss, beta)
