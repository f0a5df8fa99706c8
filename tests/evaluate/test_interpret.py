import numpy as np
import torch


def test_the_feature_projection_needs_samples_to_spread_and_gives_two_axes_when_it_has_them():
    from trainlab.evaluate.interpret import feature_projection

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    x, y = np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32), np.arange(50) % 3
    assert feature_projection(model, x[:1], y[:1]) == {}  # a one-sample test split (a 4-row table) has no spread
    p = feature_projection(model, x, y)
    assert np.asarray(p["points"]).shape == (50, 2) and p["dims"] == 8 and p["labels"] == y.tolist()
    assert 0 < sum(p["explained_variance"]) <= 1 + 1e-6
