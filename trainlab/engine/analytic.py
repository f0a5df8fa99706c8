"""Backpropagation written out, for a plain multi-layer perceptron on the CPU. A small MLP's step
is a few dozen operator calls of a few microseconds each, and on a CPU the autograd engine's own
bookkeeping (recording the graph, then walking it) costs as much again. Here the forward keeps each
layer's output, the task gives the gradient of the loss with respect to the network's outputs,
and the backward is the same ATen kernels autograd would call (mm, sum, threshold_backward,
tanh_backward, sigmoid_backward), writing into gradient buffers allocated once. The optimiser,
clipping and the schedulers are the ordinary ones, except for plain SGD (no momentum, weight
decay or clipping, the course's optimiser): there the update w -= lr · gᵀx is one addmm_ into
the weights, instead of writing the gradient and walking the parameters again in
Optimizer.step, which cost a sixth of the step on tp1. tests/engine/test_analytic.py checks
the losses and weights against autograd's."""
from __future__ import annotations

import torch
from torch import nn

from .runtime import precision_name, shared_model

# activation → (in-place forward, backward from the activation's output)
_ACTIVATIONS = {
    nn.ReLU: (torch.Tensor.relu_, lambda g, out: torch.ops.aten.threshold_backward(g, out, 0)),
    nn.Tanh: (torch.Tensor.tanh_, torch.ops.aten.tanh_backward),
    nn.Sigmoid: (torch.Tensor.sigmoid_, torch.ops.aten.sigmoid_backward),
}


def chain(module: nn.Module) -> list[tuple[nn.Linear, type | None]] | None:
    """[(Linear, the activation after it or None)] when `module` is (Flatten →) (Linear → activation)* →
    Linear, every weight trainable; None for anything else."""
    from ..models.mlp import MLP

    forward = type(module).forward  # a subclass with a forward of its own computes something else
    mods = list(module.net) if forward is MLP.forward else list(module) if forward is nn.Sequential.forward else None
    if not mods:
        return None
    if isinstance(mods[0], nn.Flatten) and mods[0].start_dim == 1 and mods[0].end_dim == -1:
        mods = mods[1:]
    out: list[tuple[nn.Linear, type | None]] = []
    for m in mods:
        if type(m).forward is nn.Linear.forward and all(p.requires_grad for p in m.parameters()):
            out.append((m, None))
        elif type(m) in _ACTIVATIONS and out and out[-1][1] is None:
            out[-1] = (out[-1][0], type(m))
        else:
            return None
    return out if out and out[-1][1] is None else None


def unsupported(module, task, fabric, t, optimizers) -> str | None:
    """Why this training keeps autograd (None: the backward can be written out)."""
    if fabric.device.type != "cpu":
        return "not on the CPU"
    if shared := shared_model(fabric):
        return shared
    if t.loop != "fast":
        return "the textbook loop"
    if precision_name(fabric) != "32-true":
        return "mixed precision"
    if task.manual or not task.written_gradient:
        return f"the {task.name} task's loss gradient is not written out"
    if t.l1 or t.l2:
        return "weight penalties"
    if t.accumulate > 1:
        return "gradient accumulation (train.accumulate)"
    if len(optimizers) != 1:
        return "several optimisers"
    if chain(module) is None:
        return "not a plain MLP (Linear layers with ReLU, tanh or sigmoid)"
    return None


def plain_sgd(optimizer, clip: float) -> bool:
    """True when the update is w -= lr · grad and nothing else reads the gradient."""
    inner = getattr(optimizer, "optimizer", optimizer)  # under Fabric's wrapper
    if type(inner) is not torch.optim.SGD or len(inner.param_groups) != 1 or clip:
        return False
    g = inner.param_groups[0]
    return g["momentum"] == 0 and g["weight_decay"] == 0 and not g["maximize"] and not g["differentiable"]


class AnalyticStep:
    """One training step of an MLP with its backward written out: `step(x, y)` → the loss."""

    def __init__(self, module, task, optimizer, t, params):
        self.task, self.optimizer, self.clip, self.params = task, optimizer, t.grad_clip, params
        # per layer: (Linear, in-place activation or None, its backward or None), looked up once
        self.layers = [(lin, *(_ACTIVATIONS[act] if act else (None, None))) for lin, act in chain(module)]
        self.sgd = plain_sgd(optimizer, t.grad_clip)  # the update goes straight into the weights
        for lin, _, _ in self.layers:  # else gradient buffers, written in place every step
            for p in lin.parameters():
                p.grad = None if self.sgd else torch.zeros_like(p)

    @torch.no_grad()
    def __call__(self, x, y):
        h = x.flatten(1)  # (B, F)
        inputs = []  # each layer's input; the one after an activation is that activation's output
        for lin, act, _ in self.layers:
            inputs.append(h)
            h = torch.addmm(lin.bias, h, lin.weight.t()) if lin.bias is not None else h @ lin.weight.t()  # (B, out)
            if act is not None:
                act(h)
        loss, g = self.task.loss_gradient(h, y)  # g: d loss / d outputs, (B, K)
        minus_lr = -self.optimizer.param_groups[0]["lr"] if self.sgd else 0.0  # read each step: schedules change it
        for i in range(len(self.layers) - 1, -1, -1):
            lin = self.layers[i][0]
            below = torch.mm(g, lin.weight) if i else None  # with the weights before this step's update
            if self.sgd:
                lin.weight.addmm_(g.t(), inputs[i], alpha=minus_lr)
                if lin.bias is not None:
                    lin.bias.add_(g.sum(0), alpha=minus_lr)
            else:
                torch.mm(g.t(), inputs[i], out=lin.weight.grad)
                if lin.bias is not None:
                    torch.sum(g, 0, out=lin.bias.grad)
            if i:
                backward = self.layers[i - 1][2]
                g = below if backward is None else backward(below, inputs[i])
        if self.sgd:
            self.optimizer._opt_called = True  # what Optimizer.step tells the schedulers (they warn otherwise)
            return loss
        if self.clip:
            torch.nn.utils.clip_grad_norm_(self.params, self.clip, foreach=True)
        self.optimizer.step()
        return loss
