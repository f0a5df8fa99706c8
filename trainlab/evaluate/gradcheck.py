"""Check back-propagation the way the courses derive it: autograd's gradients of a recipe's
model against central finite differences, in float64, and the computational graph of one
forward pass as Graphviz DOT."""
from __future__ import annotations

import copy

import numpy as np
import torch


def check_gradients(model, task, x: torch.Tensor, y: torch.Tensor, coords: int = 200, eps: float = 1e-6,
                    seed: int = 0) -> dict:
    """Compare ∂loss/∂θ from autograd with (L(θ+ε) − L(θ−ε)) / 2ε on `coords` random parameter
    coordinates (all of them when the model is that small), and ∂loss/∂x likewise, in float64."""
    model = copy.deepcopy(model).double().eval()  # eval: dropout off, batch norm fixed, so L is deterministic
    x = x.double().clone().requires_grad_(True)
    if torch.is_floating_point(y):
        y = y.double()
    loss = task.loss(model(x), y)
    loss.backward()
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    total = sum(p.numel() for _, p in params)
    rng = np.random.default_rng(seed)
    per = max(1, coords // max(1, len(params)))  # every tensor gets its share of checks
    picks = [(name, p, int(j)) for name, p in params for j in rng.choice(p.numel(), min(per, p.numel()), replace=False)]
    rows = []
    with torch.no_grad():
        for name, p, j in picks:
            v = p.view(-1)
            old = v[j].item()
            v[j] = old + eps
            up = task.loss(model(x), y).item()
            v[j] = old - eps
            down = task.loss(model(x), y).item()
            v[j] = old
            rows.append((name, (up - down) / (2 * eps), p.grad.view(-1)[j].item()))
        xs = x.detach().view(-1)
        input_rows = []
        for j in rng.choice(xs.numel(), size=min(50, xs.numel()), replace=False):
            old = xs[j].item()
            xs[j] = old + eps
            up = task.loss(model(x.detach()), y).item()
            xs[j] = old - eps
            down = task.loss(model(x.detach()), y).item()
            xs[j] = old
            input_rows.append(((up - down) / (2 * eps), x.grad.view(-1)[j].item()))

    def errors(pairs):
        fd, ag = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
        abs_err = np.abs(fd - ag)
        rel = abs_err / np.maximum(np.abs(fd) + np.abs(ag), 1e-8)
        return {"checked": len(pairs), "max_abs_error": float(abs_err.max()), "max_rel_error": float(rel.max())}

    per_param = {}
    for name, fd, ag in rows:
        per_param.setdefault(name, []).append((fd, ag))
    out = {"loss": float(loss.detach()), "parameters": total, "eps": eps,
           "by_parameter": {n: errors(v) for n, v in per_param.items()},
           "all_parameters": errors([(fd, ag) for _, fd, ag in rows]), "inputs": errors(input_rows)}
    out["passed"] = out["all_parameters"]["max_abs_error"] < 1e-6 and out["inputs"]["max_abs_error"] < 1e-6
    return out


def graph_dot(model, task, x: torch.Tensor, y: torch.Tensor) -> str:
    """The backward graph of loss(model(x), y) as Graphviz DOT: operations, and the parameters
    (by name, with shapes) where gradients accumulate."""
    names = {id(p): n for n, p in model.named_parameters()}
    loss = task.loss(model(x), y)
    lines = ["digraph backward {", '  rankdir="BT";', '  node [fontname="Helvetica", fontsize=10];',
             f'  loss [label="loss = {loss.item():.4g}", shape=box, style=filled, fillcolor="#f5c6c6"];']
    seen, stack = set(), [(loss.grad_fn, "loss")]
    while stack:
        fn, parent = stack.pop()
        if fn is None:
            continue
        node = f"n{id(fn)}"
        lines.append(f"  {node} -> {parent};")
        if node in seen:
            continue
        seen.add(node)
        var = getattr(fn, "variable", None)
        if var is not None:
            label = f"{names.get(id(var), 'tensor')}\\n{tuple(var.shape)}"
            lines.append(f'  {node} [label="{label}", shape=box, style=filled, fillcolor="#cfe3f7"];')
        else:
            lines.append(f'  {node} [label="{type(fn).__name__.removesuffix("Backward0")}"];')
        for nxt, _ in fn.next_functions:
            stack.append((nxt, node))
    lines.append("}")
    return "\n".join(lines) + "\n"
