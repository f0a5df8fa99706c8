import torch
from torch import nn

from trainlab.core.spec import DataSpec
from trainlab.evaluate.gradcheck import check_gradients, graph_dot
from trainlab.models import build_model
from trainlab.tasks import build_task

SPEC = DataSpec("table", (5,), "class", 3, ("a", "b", "c"))


def test_autograd_agrees_with_finite_differences():
    torch.manual_seed(0)
    model = build_model("mlp", SPEC, 3, hidden=[6, 4], activation="tanh", batch_norm=True, dropout=0.3)
    task = build_task("classification", SPEC, {})
    r = check_gradients(model, task, torch.randn(3, 5), torch.tensor([0, 1, 2]), coords=500)
    assert r["passed"] and r["all_parameters"]["checked"] >= 60 and len(r["by_parameter"]) == 10  # 3 linear + 2 batch-norm layers, weight and bias each


class WrongGradient(torch.autograd.Function):
    """tanh with a deliberately wrong backward (factor 2): the check must catch it."""

    @staticmethod
    def forward(ctx, x):
        y = torch.tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return 2 * g * (1 - y * y)


class Broken(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(5, 4), nn.Linear(4, 3)

    def forward(self, x):
        return self.b(WrongGradient.apply(self.a(x)))


def test_a_wrong_backward_is_caught():
    task = build_task("classification", SPEC, {})
    r = check_gradients(Broken(), task, torch.randn(3, 5), torch.tensor([0, 1, 2]))
    assert not r["passed"] and r["by_parameter"]["a.weight"]["max_rel_error"] > 0.1
    assert r["by_parameter"]["b.weight"]["max_abs_error"] < 1e-6  # the layer after the bug is right


def test_graph_names_parameters_and_operations():
    model = build_model("mlp", SPEC, 3, hidden=[4])
    dot = graph_dot(model, build_task("classification", SPEC, {}), torch.randn(2, 5), torch.tensor([0, 1]))
    assert dot.startswith("digraph") and "net.1.weight\\n(4, 5)" in dot and "Addmm" in dot and "NllLoss" in dot
