"""Fully sharded data parallelism (`train.strategy = "fsdp"`): PyTorch's FSDP2 (`fully_shard`) through
Fabric's ModelParallelStrategy, on GPUs (NCCL) and CPU processes (gloo) alike. Each of N processes
keeps about 1/N of every parameter, gradient and optimiser state (each tensor split along its first
dimension), and gathers a unit's parameters for its forward and backward. The units: each block of a
ModuleList (transformer layers, U-Net stages; blocks from other libraries stay in the model's unit),
then the rest of the model. The model's own methods besides forward (a VAE's encode and decode, a
flow's sample) gather as forward does.

Checkpoints hold whole tensors, as without sharding: every process gathers them at each epoch's end
and the first writes them. So a sharded run resumes on any number of processes, with or without
sharding, and predict, export and serve read it as any other run."""
from __future__ import annotations

import functools

import torch
import torch.nn as nn


def strategy(world: int):
    """Fabric's strategy for `world` processes, each holding a shard."""
    from .runtime import lightning_fabric

    return lightning_fabric().strategies.ModelParallelStrategy(shard, data_parallel_size=world, tensor_parallel_size=1)


def is_sharded(fabric) -> bool:
    from .runtime import strategy_name

    return strategy_name(fabric) == "fsdp"


def shard(model: nn.Module, mesh) -> nn.Module:
    """Fabric's `parallelize_fn`: shard `model` in place over the mesh's data-parallel processes."""
    import warnings

    from torch.distributed.fsdp import fully_shard, register_fsdp_forward_method

    # FSDP warns when a model returns views (a VAE's μ and log σ², chunks of one tensor) in case the
    # caller changes them in place; trainlab's tasks compute their losses out of place
    warnings.filterwarnings("ignore", message=r"FSDP2-wrapped module .* returned a view tensor")
    dp = mesh["data_parallel"]
    for module in reversed(list(model.modules())):  # inner blocks before the blocks holding them
        if isinstance(module, nn.ModuleList):
            for block in module:
                if _own(block) and any(p.requires_grad for p in block.parameters()):
                    fully_shard(block, mesh=dp)
    methods = forward_methods(model)
    fully_shard(model, mesh=dp)
    for name in methods:
        register_fsdp_forward_method(model, name)
    return model


def _own(block: nn.Module) -> bool:
    """A block of trainlab's or torch's own, used only through its forward. Others gather with the
    model: a library's blocks may read their parameters later (zuko's transforms return functions of
    them)."""
    return type(block).__module__.split(".")[0] in ("trainlab", "torch")


def held(model: nn.Module) -> tuple[int, int]:
    """(parameter values this process holds, parameter values in the model)."""
    ps = list(model.parameters())
    return sum(p.to_local().numel() if is_shard(p) else p.numel() for p in ps), sum(p.numel() for p in ps)


def forward_methods(model: nn.Module) -> list[str]:
    """The public methods a model's class adds to nn.Module's (encode, decode, sample, ...)."""
    names = set()
    for cls in type(model).__mro__:
        if cls is nn.Module:
            break
        if not issubclass(cls, nn.Module):  # FSDP's own mixin, once sharded
            continue
        names.update(n for n, v in vars(cls).items() if callable(v) and not n.startswith("_") and n != "forward")
    return sorted(n for n in names if not hasattr(nn.Module, n))


def gathered(tensors: dict) -> dict:
    """`tensors` (a state_dict) with each shard gathered whole: a collective, so every process calls it."""
    return {k: tensors[k].full_tensor() if is_shard(tensors[k]) else tensors[k] for k in sorted(tensors)}


def optimizer_gathered(state: dict) -> dict:
    """An optimiser's state_dict with its per-parameter tensors gathered whole."""
    return {**state, "state": {pid: gathered(state["state"][pid]) for pid in sorted(state["state"])}}


@functools.cache
def _shard_type() -> tuple:
    if not torch.distributed.is_available():  # a torch build without it holds no shards
        return ()
    from torch.distributed.tensor import DTensor

    return (DTensor,)


def is_shard(tensor) -> bool:
    """Is `tensor` a shard (a DTensor)? Cheap: a weight penalty asks at every step."""
    return isinstance(tensor, _shard_type())


def summed_over_shards(local: torch.Tensor) -> torch.Tensor:
    """A sum of which each process computed its shard's part (a weight penalty): the value is the whole
    sum, the gradient each process's own part (FSDP adds it to the shard's averaged gradient)."""
    total = local.detach().clone()
    torch.distributed.all_reduce(total)
    return local + (total - local.detach())


def _like(full: torch.Tensor, ref):
    """`full` sharded as `ref` is (a collective), or as it is when `ref` is not a shard."""
    if not is_shard(ref) or full.shape != ref.shape:
        return full
    from torch.distributed.tensor import distribute_tensor

    return distribute_tensor(full.to(ref.device, ref.dtype), ref.device_mesh, ref.placements)


# Each process shards in the same order (the collectives pair up in order): sorted names, never the
# order a checkpoint's tensors were read in, which safetensors does not fix.

def load_model(model: nn.Module, tensors: dict) -> None:
    """Whole tensors (a checkpoint) into a model, sharded or not (then as load_state_dict)."""
    current = model.state_dict()
    model.load_state_dict({k: _like(tensors[k], current.get(k)) for k in sorted(tensors)})


def load_optimizer(optimizer, state: dict) -> None:
    """A whole optimiser state (a checkpoint) into an optimiser, sharded like its parameters or not
    (then as load_state_dict)."""
    params = [p for g in optimizer.param_groups for p in g["params"]]
    sharded = {}
    for pid in sorted(state["state"], key=int):
        st = state["state"][pid]
        sharded[pid] = {k: _like(st[k], params[int(pid)]) if isinstance(st[k], torch.Tensor) else st[k] for k in sorted(st)}
    optimizer.load_state_dict({**state, "state": sharded})
