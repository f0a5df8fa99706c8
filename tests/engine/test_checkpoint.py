import json

import pytest
import torch

from trainlab.core.errors import CheckpointError
from trainlab.engine import checkpoint


def test_save_load_and_replace(tmp_path):
    checkpoint.save(tmp_path, "last", {"w": torch.arange(6.0)}, {"epoch": 1})
    checkpoint.save(tmp_path, "last", {"w": torch.ones(3)}, {"epoch": 2})
    tensors, meta = checkpoint.load(tmp_path, "last")
    assert meta["epoch"] == 2 and torch.equal(tensors["w"], torch.ones(3))
    assert len(list(tmp_path.glob("last-*.safetensors"))) == 1  # the old version is gone


@pytest.mark.parametrize("damage", ["truncate", "flip", "index"])
def test_damaged_checkpoint_is_refused(tmp_path, damage):
    checkpoint.save(tmp_path, "best", {"w": torch.randn(100)}, {"epoch": 1})
    index = json.loads((tmp_path / "best.json").read_text())
    f = tmp_path / index["tensors"]
    blob = f.read_bytes()
    if damage == "truncate":
        f.write_bytes(blob[:-10])
    elif damage == "flip":
        f.write_bytes(blob[:-1] + bytes([blob[-1] ^ 1]))
    else:
        (tmp_path / "best.json").write_text("{not json")
    with pytest.raises(CheckpointError):
        checkpoint.load(tmp_path, "best")


def test_optimizer_state_round_trip():
    p = torch.nn.Parameter(torch.randn(3))
    opt = torch.optim.Adam([p], lr=0.1)
    p.sum().backward()
    opt.step()
    tensors, rest = checkpoint.optimizer_to_flat(opt.state_dict())
    json.dumps(rest)  # the non-tensor part is plain JSON
    opt2 = torch.optim.Adam([torch.nn.Parameter(p.detach().clone())], lr=0.1)
    opt2.load_state_dict(checkpoint.optimizer_from_flat(tensors, rest))
    assert torch.equal(opt2.state_dict()["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])
