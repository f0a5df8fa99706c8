"""FSDP's units and whole-tensor checkpoints, in one gloo process (tests/engine/test_distributed.py
trains with two)."""
import pytest
import torch
import torch.distributed as dist
import torch.nn as nn

from trainlab.engine import sharding


@pytest.fixture
def mesh():
    from torch.distributed.device_mesh import init_device_mesh

    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        yield init_device_mesh("cpu", (1,), mesh_dim_names=("data_parallel",))
    finally:
        dist.destroy_process_group()


class Foreign(nn.Linear):
    """A block from another library (this test module): it stays in the model's unit."""


class Coder(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList([nn.Sequential(nn.Linear(6, 6), nn.ReLU()), nn.Linear(6, 6), Foreign(6, 6)])
        self.out = nn.Linear(6, 2)

    def encode(self, x):
        for b in self.blocks:
            x = b(x)
        return self.out(x)

    def decode(self, z):
        return z @ self.out.weight

    def forward(self, x):
        return self.decode(self.encode(x))


def test_blocks_are_units_and_the_models_methods_gather(mesh):
    from torch.distributed.fsdp import FSDPModule

    torch.manual_seed(0)
    model = Coder()
    whole = Coder()
    whole.load_state_dict(model.state_dict())
    sharding.shard(model, mesh)
    assert [isinstance(b, FSDPModule) for b in model.blocks] == [True, True, False]
    assert isinstance(model, FSDPModule) and sharding.forward_methods(model) == ["decode", "encode"]
    x, z = torch.randn(4, 6), torch.randn(4, 2)
    assert sharding.is_shard(model.out.weight)
    # decode reads out.weight outside any forward: registered, it gathers as forward does
    torch.testing.assert_close(model.decode(z), whole.decode(z))
    torch.testing.assert_close(model(x), whole(x))


def test_checkpoint_tensors_are_whole_and_load_back_sharded(mesh):
    torch.manual_seed(0)
    model = Coder()
    want = {k: v.clone() for k, v in model.state_dict().items()}
    sharding.shard(model, mesh)
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    model(torch.randn(4, 6)).square().mean().backward()
    opt.step()
    got = sharding.gathered(model.state_dict())
    assert not any(sharding.is_shard(v) for v in got.values()) and got.keys() == want.keys()
    assert all(got[k].shape == want[k].shape and not torch.equal(got[k], want[k]) for k in want)
    state = sharding.optimizer_gathered(opt.state_dict())
    assert not sharding.is_shard(state["state"][0]["exp_avg"])

    sharding.load_model(model, want)  # whole tensors in, shards out
    assert all(sharding.is_shard(v) for v in model.state_dict().values())
    back = sharding.gathered(model.state_dict())
    assert all(torch.equal(back[k], want[k]) for k in want)
    sharding.load_optimizer(opt, state)
    assert sharding.is_shard(opt.state_dict()["state"][0]["exp_avg"])
    torch.testing.assert_close(sharding.optimizer_gathered(opt.state_dict())["state"][0]["exp_avg"],
                               state["state"][0]["exp_avg"])
