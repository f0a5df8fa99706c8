"""Reconstruction, VAE, GAN and density tasks: their numbers checked against what they must be."""
import math

import numpy as np
import pytest
import torch
from torch import nn

import trainlab
from tests.conftest import recipe_dict, write_mnist_folder
from trainlab.core.config import parse_recipe
from trainlab.core.errors import RecipeError
from trainlab.core.spec import DataSpec
from trainlab.data.datasets import gaussian_mixture, mixture_log_density
from trainlab.data.transforms import Normalizer
from trainlab.tasks import build_task
from trainlab.tasks.generative import class_statistics, frechet_distance

IMG = DataSpec("image", (1, 8, 8), "class", 3, ("a", "b", "c"))
UNIT = Normalizer("minmax", "channel", [0.0], [1.0])


def test_psnr_of_an_identity_model_is_the_noisy_input_psnr():
    task = build_task("reconstruction", IMG, {"noise": 0.3}, normalizer=UNIT)
    x = torch.rand(500, 1, 8, 8)
    m = task.test(nn.Identity(), x, torch.zeros(500, dtype=torch.long), 100)
    noisy = task._fixed_noise(x)
    mse = float((noisy - x).square().mean())
    assert noisy.min() == 0 and noisy.max() == 1  # clipped to the data range (adapt() fits it; [0, 1] before)
    assert m["noisy_psnr"] == pytest.approx(10 * math.log10(float(x.max() - x.min()) ** 2 / mse), rel=1e-6)
    assert m["psnr_gain"] == pytest.approx(0.0, abs=1e-9)


def test_anomaly_scores_rank_the_held_out_class():
    task = build_task("reconstruction", IMG, {"anomaly_classes": [2]}, normalizer=UNIT)

    class Model(nn.Module):  # reconstructs dark images perfectly, bright ones badly
        def forward(self, x):
            return x.clamp(max=0.5)

    y = torch.arange(300) % 3
    x = torch.rand(300, 1, 8, 8) * 0.5 + 0.5 * (y == 2).float()[:, None, None, None]
    m = task.test(Model(), x, y, 64)
    assert m["roc_auc"] == 1.0 and m["pr_auc"] == pytest.approx(1.0)
    assert m["anomaly"]["held_out"] == ["c"] and m["anomaly"]["anomalous_share"] == pytest.approx(1 / 3)


def test_anomaly_classes_are_checked():
    with pytest.raises(RecipeError, match="class 7 does not exist"):
        build_task("reconstruction", IMG, {"anomaly_classes": [7]}, normalizer=UNIT)
    with pytest.raises(RecipeError, match="every class"):
        build_task("reconstruction", IMG, {"anomaly_classes": [0, 1, 2]}, normalizer=UNIT)


def test_vae_kl_is_zero_at_the_prior_and_positive_elsewhere():
    task = build_task("vae", IMG, {}, normalizer=UNIT)
    x = torch.rand(4, 1, 8, 8)
    _, kl0 = task.terms((x, torch.zeros(4, 2), torch.zeros(4, 2)), x)
    _, kl1 = task.terms((x, torch.ones(4, 2), torch.zeros(4, 2)), x)
    assert torch.allclose(kl0, torch.zeros(4)) and torch.allclose(kl1, torch.full((4,), 1.0))  # ½·Σμ² = 1


def test_frechet_distance_of_shifted_gaussians():
    a = np.random.default_rng(0).normal(size=(20000, 4))
    b = np.random.default_rng(1).normal(size=(20000, 4)) + 0.5
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-4)
    assert frechet_distance(a, b) == pytest.approx(4 * 0.25, abs=0.05)


def test_class_statistics_detect_one_class():
    probs = np.tile([0.9, 0.05, 0.05], (100, 1))
    s = class_statistics(probs)
    assert s["class_entropy"] == 0.0 and s["mean_max_confidence"] == pytest.approx(0.9)
    s = class_statistics(np.eye(3)[np.arange(300) % 3])
    assert s["class_entropy"] == pytest.approx(math.log(3))


def test_mixture_entropy_matches_numerical_integration():
    raw = gaussian_mixture(n=100, dim=1)
    grid = np.linspace(-8, 10, 20001)[:, None]
    logp = mixture_log_density(raw.truth, grid)
    p = np.exp(logp)
    assert np.trapezoid(p, grid[:, 0]) == pytest.approx(1.0, abs=1e-6)
    assert raw.truth["entropy"] == pytest.approx(-np.trapezoid(p * logp, grid[:, 0]), abs=0.01)


def test_density_nll_is_in_data_units():
    """A standard-normal 'flow' on data scaled by 3: NLL in data units adds log 3 per dimension."""
    spec = DataSpec("points", (2,), "class", 1, ("a",))
    norm = Normalizer("standard", "feature", [0.0, 0.0], [3.0, 3.0])
    task = build_task("density", spec, {}, normalizer=norm)

    class StdNormal(nn.Module):
        def forward(self, u):
            return -0.5 * u.square().sum(1) - math.log(2 * math.pi)

    u = torch.randn(20000, 2, generator=torch.Generator().manual_seed(0))
    task.x_train = u.double().numpy()
    m = task.test(StdNormal(), u, torch.zeros(20000, dtype=torch.long), 4096)
    entropy = math.log(2 * math.pi * math.e) + 2 * math.log(3)  # N(0, 9·I) in 2-D
    assert m["nll"] == pytest.approx(entropy, abs=0.03) and m["gaussian_nll"] == pytest.approx(m["nll"], abs=0.01)


def test_gan_steps_both_players_and_resumes(tmp_path, monkeypatch):
    """Two optimisers: generator and discriminator both move; a killed run resumes to the same result."""
    folder = write_mnist_folder(tmp_path / "mnist", n_train=240, n_test=60)
    judge = recipe_dict(data={"name": "mnist_folder", "path": str(folder), "normalize": "minmax"},
                        model={"name": "mlp", "hidden": [32]}, train={"epochs": 3, "batch_size": 32})
    judge_run = trainlab.run(parse_recipe(judge), runs_dir=tmp_path / "j", progress=False)
    gan = recipe_dict(data={"name": "mnist_folder", "path": str(folder), "normalize": "minmax"},
                      model={"name": "gan", "noise": 8, "hidden": [32]}, optim={"name": "adam", "lr": 1e-3},
                      task={"name": "gan", "judge": str(judge_run.path), "samples": 200, "val_samples": 100},
                      train={"epochs": 3, "batch_size": 32}, report={"html": True})
    r = trainlab.run(parse_recipe(gan), runs_dir=tmp_path, progress=False)
    h, t = r.history, r.metrics["test"]
    assert {"train_d_loss", "train_g_loss", "val_loss", "val_class_entropy"} <= set(h[0])
    assert 0 <= t["class_entropy"] <= math.log(10) and t["fid_judge"] > 0 and t["samples"] == 200
    assert len(list((r.path / "pictures").glob("epoch-*.npz"))) == 3
    assert "Samples over training" in (r.path / "report.html").read_text()
    from trainlab.engine import checkpoint

    tensors, meta = checkpoint.load(r.path / "checkpoints", "last")
    assert len(meta["optimizers"]) == 2 and any(k.startswith("optim1.") for k in tensors)
    from tests.cli.test_cli import cli_here

    proc = cli_here("predict", r.path, "x.png")
    assert proc.returncode == 2 and "task is 'gan'" in proc.stderr and "Traceback" not in proc.stderr

    # interrupted in epoch 2, resumed from epoch 1's checkpoint: both optimisers and the noise continue exactly
    from trainlab.procedure import Interrupted
    from trainlab.tasks.generative import GANTask

    calls, original = [], GANTask.epoch_pictures

    def interrupt_once(self, model):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(self, model)

    monkeypatch.setattr(GANTask, "epoch_pictures", interrupt_once)
    with pytest.raises(Interrupted):
        trainlab.run(parse_recipe(gan), runs_dir=tmp_path / "cut", progress=False)
    cut = next((tmp_path / "cut").glob("t-*"))
    assert len(trainlab.load_run(cut).history) == 1
    resumed = trainlab.resume(cut, progress=False)
    assert [row["val_loss"] for row in resumed.history] == [row["val_loss"] for row in h]
    assert resumed.metrics["test"]["fid_judge"] == t["fid_judge"]


@pytest.mark.parametrize("data", [{"name": "gaussian_mixture", "dim": 1, "n": 3000}, {"name": "moons", "n": 3000}])
def test_flows_draw_their_density(tmp_path, data):
    pytest.importorskip("zuko")
    d = recipe_dict(data={**data, "normalize": "standard"}, task={"name": "density"}, optim={"name": "adam", "lr": 1e-2},
                    train={"epochs": 6, "batch_size": 128}, report={"html": True})
    d["model"] = {"name": "flow", "kind": "nsf", "transforms": 2, "hidden": [32, 32], "bins": 16}
    r = trainlab.run(parse_recipe(d), runs_dir=tmp_path, progress=False)
    t = r.metrics["test"]
    # both sets are far from Gaussian: a few epochs of a spline flow already beat the Gaussian baseline
    assert t["nll"] < t["gaussian_nll"] and ("true_entropy" in t) == (data["name"] == "gaussian_mixture")
    html = (r.path / "report.html").read_text()
    assert "<h3>Density</h3>" in html and ("true density" in html) == (data["name"] == "gaussian_mixture")
    if data["name"] == "moons":  # predict scores new points by their NLL, against the test points'
        from trainlab.data.prepare import load_raw
        from trainlab.serve.predictor import Predictor

        p = Predictor(r.path)
        points = load_raw("moons", {"n": 400, "seed": 7}).x
        got = p.predict(np.vstack([points, [[10.0, 10.0], [0.5, 0.25]]]))  # far away; between the moons
        rank = np.asarray(got["percentiles"])
        assert got["score"] == "nll" and len(got["scores"]) == 402 and 30 < rank[:400].mean() < 70
        assert got["unusual"][400] and rank[400] == 100.0 and got["scores"][400] > got["unusual_above"]
        assert np.mean(got["unusual"][:400]) < 0.05  # new points from the same moons: about 1% above the 99th
        from trainlab.evaluate.external import evaluate_external
        from trainlab.report.methods import external_sentences

        for name, shift in (("same", 0.0), ("moved", 0.4)):  # evaluate: the set of them against the test points
            np.savetxt(tmp_path / f"{name}.csv", points + [shift, 0], delimiter=",", header="x1,x2", comments="")
        same, moved = (evaluate_external(r.path, tmp_path / f"{n}.csv") for n in ("same", "moved"))
        assert same["samples"] == 400 and same["copies"] == 0 and same["surprise"]["ks_p_value"] > 0.01
        assert moved["surprise"]["ks_p_value"] < 1e-6 and moved["surprise"]["mean_percentile"] > 65
        assert moved["surprise"]["unusual_share"] > 0.03 and moved["surprise"]["unusual_p_value"] < 1e-3
        nll = moved["rows"][0]  # the mean NLLs side by side, not tested (a few far points move a mean)
        assert nll["metric"] == "nll" and nll["test"] is None and nll["external"] > nll["run"]
        assert any(warn and "as a set they are more unusual for the model" in s for s, warn in external_sentences(moved))
        assert not any(warn for _, warn in external_sentences(same))


def test_a_vae_scores_how_unusual_an_input_is_by_its_reconstruction_through_the_latent_mean():
    from trainlab.models import build_model

    task = build_task("vae", IMG, {"loss": "mse"}, normalizer=UNIT)
    model = build_model("vae", IMG, task.output_size(), kind="dense", hidden=[16], latent=2)
    x = torch.rand(50, 1, 8, 8)
    score = task.surprise(model, x, 16)
    with torch.no_grad():
        want = (model.decode(model.encode(x)[0]) - x).square().reshape(50, -1).mean(1).numpy()
    assert np.allclose(score, want, rtol=1e-5)
    q = task.test(model, x, torch.zeros(50, dtype=torch.long), 16)["surprise_percentiles"]
    assert len(q) == 101 and q[0] == pytest.approx(score.min()) and q[100] == pytest.approx(score.max())


def test_a_denoising_autoencoder_writes_the_new_images_it_cleans(tmp_path):
    """trainlab predict RUN images --out folder: each reconstruction as a PNG beside its scores."""
    from PIL import Image

    from tests.cli.test_cli import cli_here
    from trainlab.serve.predictor import Predictor

    folder = write_mnist_folder(tmp_path / "mnist", n_train=200, n_test=40)
    d = recipe_dict(data={"name": "mnist_folder", "path": str(folder), "normalize": "minmax"},
                    task={"name": "reconstruction", "noise": 0.3}, train={"epochs": 6, "batch_size": 32})
    d["model"] = {"name": "autoencoder", "kind": "dense", "hidden": [64], "latent": 16}
    r = trainlab.run(parse_recipe(d), runs_dir=tmp_path / "runs", progress=False)
    from tests.conftest import class_image

    rng = np.random.default_rng(1)
    truth = np.stack([class_image(c, rng) for c in (3, 7)]).astype(np.float32)  # new images, then noise on them
    noisy = np.clip(np.round(truth + rng.normal(0, 0.3 * 255, truth.shape)), 0, 255).astype(np.uint8)
    for i, a in enumerate(noisy):
        Image.fromarray(a).save(tmp_path / f"in{i}.png")
    said = cli_here("predict", r.path, tmp_path / "in0.png", tmp_path / "in1.png", "--out", tmp_path / "clean")
    assert said.returncode == 0, said.stderr
    written = sorted((tmp_path / "clean").glob("*.png"))
    assert [f.name for f in written] == ["0000_in0_reconstructed.png", "0001_in1_reconstructed.png"]
    want = Predictor(r.path).predict(noisy[:, None].astype(np.float32), reconstructions=True)["reconstructions"]
    got = np.stack([np.asarray(Image.open(f)) for f in written]).astype(np.float32)
    assert np.array_equal(got, np.clip(np.round(want[:, 0]), 0, 255))
    error = lambda a: float(np.square(a - truth).mean())  # noqa: E731
    assert error(got) < 0.7 * error(noisy.astype(np.float32))  # cleaned: nearer the images before the noise
    table = (tmp_path / "clean" / "predictions.csv").read_text().splitlines()
    assert table[0] == "input,reconstruction_error,test samples more typical (%),unusual,reconstruction" and \
        table[1].endswith("0000_in0_reconstructed.png")
