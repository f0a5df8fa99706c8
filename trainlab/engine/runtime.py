"""The only device code: Lightning Fabric picks the device and precision; everything else
asks this module."""
from __future__ import annotations

import logging
import platform

log = logging.getLogger("trainlab")


def choose_device(device: str) -> str:
    import torch

    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        return "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        from ..core.errors import RecipeError

        raise RecipeError("train.device = 'cuda' but no CUDA device is visible. Use 'auto' or 'cpu'.")
    return device


def choose_precision(precision: str, device: str, model) -> str:
    """"auto": bf16 autocast on CUDA for conv nets and attention, fp32 elsewhere; "32" and "bf16" as asked,
    on any device. `model`: the network, or a function that builds it, called only when its layers decide."""
    import torch.nn as nn

    if precision == "32":
        return "32-true"
    if precision == "bf16":  # on the CPU too, when asked: oneDNN runs convolutions and matmuls in bf16
        if device == "cpu" and not cpu_has_bf16():
            log.warning("This CPU has no native bf16 (AVX512-BF16 or AMX): train.precision = 'bf16' is emulated "
                        "and slower than fp32.")
        return "bf16-mixed"
    if device != "cuda":
        return "32-true"
    model = model if isinstance(model, nn.Module) else model()
    heavy = any(isinstance(m, (nn.Conv2d, nn.MultiheadAttention, nn.TransformerEncoderLayer)) for m in model.modules())
    return "bf16-mixed" if heavy else "32-true"


def precision_name(fabric) -> str:
    """Fabric's precision: "32-true", "bf16-mixed", …"""
    return str(getattr(fabric.strategy.precision, "precision", "32-true"))


def lightning_fabric():
    """Lightning Fabric: the lightning-fabric package trainlab depends on, or the copy inside the
    lightning package where only that is installed (an image with Lightning preinstalled). One of
    them throughout: their classes are distinct."""
    try:
        import lightning_fabric as lf
    except ImportError:
        import lightning.fabric as lf
    return lf


def strategy_name(fabric) -> str:
    """"fsdp", "ddp", or "none" for one process without a data-parallel wrapper."""
    strategies = lightning_fabric().strategies
    if isinstance(fabric.strategy, strategies.ModelParallelStrategy):
        return "fsdp"
    return "ddp" if isinstance(fabric.strategy, strategies.DDPStrategy) else "none"


def shared_model(fabric) -> str | None:
    """How several processes share the model: "data-parallel" (DDP: each holds it whole and gradients
    are averaged outside the step), "sharded" (FSDP: each holds a shard), or None when one process
    holds the whole model."""
    if strategy_name(fabric) == "fsdp":
        return "sharded"
    return "data-parallel" if fabric.world_size > 1 else None


def autocast_without_cache(precision: str, device_type: str):
    """The autocast of a Fabric `precision` on `device_type`, without autocast's cache of each weight's
    low-precision copy: the cache lives until the context exits, so a step that updates weights inside
    the context, or a captured step replayed after updates, would go on reading the old copies."""
    import contextlib

    import torch

    dtype = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(precision)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type, dtype=dtype, cache_enabled=False)


def cpu_has_bf16() -> bool:
    """Does oneDNN run bf16 natively on this CPU (AVX512-BF16, AMX)?"""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a build without oneDNN
        return False


def fits_on_device(nbytes: int, device) -> bool:
    """Does a training set of `nbytes` belong on the device? Yes on the CPU (the host is the
    device); on a GPU when it takes at most half of the memory free now (the rest is for the
    model, its activations and the validation split)."""
    import torch

    if getattr(device, "type", str(device)) != "cuda":
        return True
    free, _ = torch.cuda.mem_get_info(device)
    return nbytes <= free // 2


def conv_layout(model, device: str):
    """channels_last for convolutional networks on CUDA (tensor cores read NHWC) and on the CPU (oneDNN's
    convolutions: 1.1-1.3x faster steps for the course's conv nets, benchmarks/RESULTS.md); unchanged elsewhere."""
    import torch
    import torch.nn as nn

    if device in ("cuda", "cpu") and any(isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) for m in model.modules()):
        return model.to(memory_format=torch.channels_last)
    return model


def make_fabric(device: str, precision: str, devices: int = 1, num_nodes: int = 1, strategy: str = "auto"):
    """One Fabric per process. Several processes (devices × num_nodes) train data-parallel with DDP, or
    with FSDP when `strategy` says so: NCCL on GPUs, gloo on CPUs; Fabric's launchers start them, or
    detect torchrun and SLURM."""
    import os

    import torch

    lf = lightning_fabric()
    Fabric = lf.Fabric
    # Fabric's banners (rank, backend) come from every process, at INFO once imported; trainlab's log and
    # summary say what runs where
    logging.getLogger(lf.__name__).setLevel(logging.WARNING)

    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        # every batch has the same shape: let cuDNN time its convolution algorithms once and keep the fastest
        # (the first steps run eagerly, so this happens before a CUDA graph is captured)
        torch.backends.cudnn.benchmark = True
    if strategy == "fsdp":
        from .sharding import strategy as sharded

        world = int(os.environ.get("WORLD_SIZE", devices * num_nodes))  # torchrun / SLURM say how many there are
        return Fabric(accelerator=device, devices=devices, num_nodes=num_nodes, strategy=sharded(world),
                      precision=precision)
    if devices * num_nodes > 1 or strategy == "ddp":
        return Fabric(accelerator=device, devices=devices, num_nodes=num_nodes, strategy="ddp", precision=precision)
    return Fabric(accelerator=device, devices=1, precision=precision)


def distributed(recipe) -> bool:
    """Does this recipe train in several processes (or run under torchrun / SLURM with several)?"""
    import os

    t = recipe.train
    return t.devices * t.num_nodes > 1 or t.strategy != "auto" or int(os.environ.get("WORLD_SIZE", "1")) > 1


def environment(device: str) -> dict:
    import numpy
    import torch

    from .. import __version__

    env = {
        "trainlab": __version__, "python": platform.python_version(), "torch": torch.__version__,
        "numpy": numpy.__version__, "platform": platform.platform(), "device": device,
        "cpu_threads": torch.get_num_threads(),
    }
    env["lightning_fabric"] = lightning_fabric().__version__
    if device == "cuda":
        env["gpu"] = torch.cuda.get_device_name()
    return env
