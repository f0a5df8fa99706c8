"""What one training step costs, counted rather than timed: for trainlab bench's TFLOP/s and
benchmarks/roofline.py's bounds."""
from __future__ import annotations

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode


class _Traffic(TorchDispatchMode):
    """Elements every operator other than a view reads and writes, and how many such operators run
    (about one kernel launch each). A view moves no data and launches nothing."""

    def __init__(self):
        super().__init__()
        self.elements, self.kernels = 0, 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if not func.is_view:
            leaves = torch.utils._pytree.tree_leaves((args, kwargs, out))
            self.elements += sum(t.numel() for t in leaves if isinstance(t, torch.Tensor))
            self.kernels += 1
        return out


def step_cost(task, model, data, batch_size: int) -> dict:
    """One training step's forward and backward on the first `batch_size` training samples:
    FLOPs of matrix products and convolutions (PyTorch's FlopCounterMode), elements read and
    written if nothing were fused, and operator calls. The optimiser's update is left out."""
    module = model.module if hasattr(model, "module") else model
    dev = next(module.parameters()).device
    x = torch.as_tensor(data.split.x_train[:batch_size]).to(dev)
    y = torch.as_tensor(data.split.y_train[:batch_size]).to(dev, task.target_dtype())
    traffic = _Traffic()
    with FlopCounterMode(display=False) as flops, traffic:
        task.training_step(module, x, y).backward()
    module.zero_grad(set_to_none=True)
    return {"flops": flops.get_total_flops(), "elements": traffic.elements, "kernels": traffic.kernels}
