import numpy as np
import pytest

import trainlab
from trainlab.core.config import parse_recipe
from trainlab.engine.lr_find import centred, suggestions
from tests.conftest import recipe_dict


def test_suggestions_find_the_steepest_fall_before_the_minimum():
    lrs = np.logspace(-7, 0, 141)
    x = np.log10(lrs)
    loss = 2 - np.tanh(1.5 * (x + 3)) + np.where(x > -1, 40 * (x + 1) ** 2, 0)  # falls fastest at 1e-3, then diverges
    s = suggestions(lrs.tolist(), loss.tolist())
    assert s["steepest"] == pytest.approx(1e-3, rel=0.13)
    assert 1e-2 < s["minimum"] <= 1e-1 and s["minimum_over_10"] == pytest.approx(s["minimum"] / 10)
    assert suggestions([1e-3, 1e-2], [1.0, 0.5])["steepest"] is None  # too short to tell


def test_the_centred_average_does_not_lag():
    step = [1.0] * 20 + [0.0] * 20
    smooth = centred(step, 5)
    assert smooth[19] == pytest.approx(0.6) and smooth[20] == pytest.approx(0.4)  # the step stays where it is
    assert len(smooth) == 40 and smooth[0] == 1.0 and smooth[-1] == 0.0


def test_lr_find_on_a_recipe_grows_the_rate_and_stops_when_the_loss_diverges():
    r = parse_recipe(recipe_dict(data={"name": "digits"}, optim={"name": "sgd", "lr": 0.01}, train={"batch_size": 32}))
    out = trainlab.lr_find(r, steps=120, start=1e-5, end=100.0)
    lrs = np.asarray(out["lr"])
    assert lrs[0] == pytest.approx(1e-5) and np.allclose(lrs[1:] / lrs[:-1], (1e7) ** (1 / 119))
    assert len(lrs) < 120 and lrs[-1] < 100  # stopped once the loss diverged
    assert out["steepest"] < out["minimum"] and out["recipe_lr"] == 0.01
    i = out["lr"].index(out["minimum"])
    assert out["smoothed"][i] < 0.6 * out["smoothed"][0]  # it learned before it diverged
    assert 1e-3 < out["steepest"] < 5  # plain SGD on an MLP: between the slow and the divergent
