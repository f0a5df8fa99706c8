"""The MLP step with its backward written out (engine/analytic.py) against autograd's: the same
losses, rates and weights, over activations, losses, optimisers, schedules and clipping."""
import pytest
import torch
from torch import nn

import trainlab
from trainlab.core.config import parse_recipe
from trainlab.engine import analytic
from trainlab.models.mlp import MLP

from ..conftest import recipe_dict


def _run(tmp_path, name, autograd: bool, monkeypatch, **sections):
    if autograd:
        monkeypatch.setattr(analytic, "unsupported", lambda *a: "turned off by the test")
    r = trainlab.run(parse_recipe(recipe_dict(name=name, **sections)), runs_dir=tmp_path / name, progress=False)
    monkeypatch.undo()
    return r


CASES = {
    # iris (3 classes, cross-entropy) and moons (one logit, binary cross-entropy)
    # plain SGD with a changing rate: the update goes straight into the weights
    "relu-ce-plain-sgd-step": dict(model={"hidden": [16, 8], "activation": "relu"}, optim={"name": "sgd", "lr": 0.1},
                                   schedule={"name": "step", "step_size": 2, "gamma": 0.5}),
    "relu-ce-sgd": dict(model={"hidden": [16, 8], "activation": "relu"},
                        optim={"name": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-3},
                        schedule={"name": "onecycle"}),
    "tanh-smoothed-ce-adam-clip": dict(model={"hidden": [16], "activation": "tanh"}, task={"label_smoothing": 0.1},
                                       train={"grad_clip": 0.5}, schedule={"name": "cosine"}),
    "sigmoid-bce-adamw": dict(data={"name": "moons", "n": 400}, model={"hidden": [12, 12], "activation": "sigmoid"},
                              optim={"name": "adamw", "lr": 0.02}),
    "relu-smoothed-bce-rmsprop": dict(data={"name": "moons", "n": 400}, model={"hidden": [8], "activation": "relu"},
                                      optim={"name": "rmsprop", "lr": 0.005}, task={"label_smoothing": 0.2}),
}


@pytest.mark.parametrize("case", CASES)
def test_written_out_backward_follows_autograd(tmp_path, monkeypatch, recwarn, case):
    fast = _run(tmp_path, "fast", False, monkeypatch, **CASES[case])
    assert not [w for w in recwarn if "lr_scheduler" in str(w.message)]  # the schedulers know the optimiser stepped
    slow = _run(tmp_path, "slow", True, monkeypatch, **CASES[case])
    assert (fast.metrics["fit"]["backward"], slow.metrics["fit"]["backward"]) == ("written out", "autograd: turned off by the test")
    for a, b in zip(fast.history, slow.history, strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-5)
        assert a["lr"] == pytest.approx(b["lr"], rel=1e-9)
    wa, wb = (trainlab.load_run(r.path).predictor.network.state_dict() for r in (fast, slow))
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=1e-4, atol=1e-5)
    assert fast.metrics["test"]["accuracy"] == slow.metrics["test"]["accuracy"]


def test_only_a_plain_mlp_is_written_out():
    assert [a for _, a in analytic.chain(MLP(4, [8, 8], 3))] == [nn.ReLU, nn.ReLU, None]
    assert [a for _, a in analytic.chain(nn.Sequential(nn.Linear(4, 3)))] == [None]
    refused = [MLP(4, [8], 3, dropout=0.1), MLP(4, [8], 3, batch_norm=True), MLP(4, [8], 3, activation="leaky_relu"),
               nn.Sequential(nn.Linear(4, 3), nn.ReLU()), nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2, 3)),
               nn.Sequential(nn.Flatten(0), nn.Linear(4, 3)), nn.Linear(4, 3)]
    frozen = MLP(4, [8], 3)
    frozen.net[1].weight.requires_grad_(False)

    class Skip(nn.Sequential):  # a user's model: Sequential's layers, a forward of its own
        def forward(self, x):
            return super().forward(x) + x[:, :3]

    class Scaled(nn.Linear):
        def forward(self, x):
            return 2 * super().forward(x)

    yours = [Skip(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)), nn.Sequential(Scaled(4, 8), nn.ReLU(), nn.Linear(8, 3))]
    assert all(analytic.chain(m) is None for m in [*refused, frozen, *yours])


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
@pytest.mark.parametrize("classes,smoothing", [(3, 0.0), (3, 0.1), (2, 0.0), (2, 0.2)])  # 2: one logit, BCE
@pytest.mark.parametrize("momentum", [0.9, 0.0])  # 0: plain SGD, updated in place without gradient buffers
def test_one_step_gives_autograds_gradients(activation, classes, smoothing, momentum):
    from types import SimpleNamespace

    from trainlab.core.spec import DataSpec
    from trainlab.tasks.classification import Classification

    task = Classification(DataSpec("image", (1, 3, 4), "class", classes, tuple("abc"[:classes])),
                          label_smoothing=smoothing)
    torch.manual_seed(0)
    x, y = torch.randn(16, 1, 3, 4), torch.randint(classes, (16,))
    nets = []
    for _ in range(2):
        torch.manual_seed(1)
        nets.append(MLP(12, [10, 7], task.output_size(), activation))
    written, ref = nets
    loss = task.loss(ref(x), y)
    loss.backward()
    lr = 0.0 if momentum else 0.5  # with momentum, lr 0: the weights stay and the gradient buffers hold the gradients
    step = analytic.AnalyticStep(written, task, torch.optim.SGD(written.parameters(), lr=lr, momentum=momentum),
                                 SimpleNamespace(grad_clip=0), list(written.parameters()))
    assert step.sgd == (not momentum)
    assert step(x, y).item() == pytest.approx(loss.item(), rel=1e-6)
    for (name, p), q in zip(written.named_parameters(), ref.parameters()):
        if momentum:
            torch.testing.assert_close(p.grad, q.grad, rtol=1e-5, atol=1e-7, msg=name)
        else:
            assert p.grad is None
            torch.testing.assert_close(p.detach(), (q - lr * q.grad).detach(), rtol=1e-5, atol=1e-7, msg=name)
