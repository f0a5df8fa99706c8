import pytest
import torch
from torch import nn

from trainlab.engine.runtime import autocast_without_cache, choose_precision, conv_layout, fits_on_device


def test_conv_nets_take_channels_last_on_the_cpu_and_mlps_stay():
    conv = conv_layout(nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(288, 2)), "cpu")
    assert conv[0].weight.is_contiguous(memory_format=torch.channels_last) and not conv[0].weight.is_contiguous()
    x = torch.randn(4, 3, 8, 8)
    assert conv[0](x).is_contiguous(memory_format=torch.channels_last)  # the layout carries through the network
    mlp = conv_layout(nn.Sequential(nn.Linear(3, 2)), "cpu")
    assert mlp[0].weight.is_contiguous()


def test_precision_builds_the_model_only_when_its_layers_decide():
    def build():
        raise AssertionError("built")

    assert choose_precision("auto", "cpu", build) == "32-true"  # never built off CUDA
    assert choose_precision("bf16", "cuda", build) == "bf16-mixed"  # nor when the recipe says
    assert choose_precision("auto", "cuda", lambda: nn.Conv2d(1, 2, 3)) == "bf16-mixed"
    assert choose_precision("auto", "cuda", nn.Linear(2, 2)) == "32-true"
    assert choose_precision("bf16", "cpu", build) == "bf16-mixed"  # asked for: honoured on the CPU too
    assert choose_precision("32", "cuda", build) == "32-true"


def test_a_weight_updated_inside_the_autocast_context_is_read_again():
    # a GAN's step updates the discriminator, then runs it again for the generator's loss
    lin, x = nn.Linear(4, 4), torch.randn(2, 4)
    with autocast_without_cache("bf16-mixed", "cpu"):
        before = lin(x)
        with torch.no_grad():
            lin.weight.add_(1.0)
        after = lin(x)
    assert before.dtype == torch.bfloat16
    torch.testing.assert_close(after.float(), before.float() + x.sum(1, keepdim=True), rtol=0.02, atol=0.05)


def test_the_host_is_big_enough_on_the_cpu():
    assert fits_on_device(10 ** 15, torch.device("cpu"))


@pytest.mark.parametrize("absent", ["lightning", "lightning_fabric"])
def test_training_needs_either_lightning_fabric_or_the_lightning_package(tmp_path, absent):
    """The core dependency is lightning-fabric (module lightning_fabric); `lightning` comes only with extras,
    and an image with only `lightning` preinstalled (the GPU machines) uses its copy, lightning.fabric."""
    import subprocess
    import sys

    from tests.conftest import REPO

    if absent == "lightning_fabric":
        pytest.importorskip("lightning")
    code = (f"import sys; sys.modules[{absent!r}] = None  # as if not installed\n"
            "import trainlab\n"
            "from tests.conftest import recipe_dict\n"
            "from trainlab.core.config import parse_recipe\n"
            f"run = trainlab.run(parse_recipe(recipe_dict(train={{'epochs': 1}})), runs_dir={str(tmp_path)!r}, progress=False)\n"
            "assert run.metrics['fit']['strategy'] == 'none' and run.metrics['test']['accuracy'] > 0\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
