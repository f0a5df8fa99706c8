import numpy as np
import pytest
import torch

from trainlab.rl.mouse_game import CHEESE, POISON, WALL, BatchedMouseGame, MouseGame, heuristic_action


def empty_game(**kw) -> MouseGame:
    g = MouseGame(**kw)
    g.reset(seed=0)
    g.items[:] = 0
    return g


def test_rewards_eat_items_and_walls_stop_the_mouse():
    g = empty_game(size=5)
    g.items[CHEESE, 1, 2] = 1
    g.items[CHEESE, 4, 4] = 1
    g.items[POISON, 2, 2] = 1
    g.pos = np.array([0, 2])
    _, r, term, trunc, _ = g.step(0)  # up: wall, stays
    assert r == 0 and tuple(g.pos) == (0, 2) and not term
    _, r, *_ = g.step(1)  # down onto cheese
    assert r == 0.5 and g.items[CHEESE, 1, 2] == 0
    _, r, *_ = g.step(1)  # down onto poison
    assert r == -1.0 and g.items[POISON, 2, 2] == 0
    g.step(0), g.step(1)  # back and forth over the eaten cells: nothing left there
    assert g.step(0)[1] == 0


def test_view_at_a_corner_shows_the_walls():
    g = empty_game(size=6)
    g.items[CHEESE, 1, 1] = 1
    g.pos = np.array([0, 0])
    view = g._obs()
    assert view.shape == (3, 5, 5)
    assert view[WALL, :2].all() and view[WALL, :, :2].all() and not view[WALL, 2:, 2:].any()
    assert view[CHEESE, 3, 3] == 1 and view[CHEESE].sum() == 1


def test_episode_ends_when_the_cheese_is_gone_or_at_the_horizon():
    g = empty_game(size=4, horizon=3)
    g.items[CHEESE, 0, 1] = 1
    g.pos = np.array([0, 0])
    _, r, term, trunc, _ = g.step(3)
    assert r == 0.5 and term and not trunc
    g = empty_game(size=4, horizon=3)
    g.items[CHEESE, 3, 3] = 1
    g.pos = np.array([0, 0])
    results = [g.step(0)[2:4] for _ in range(3)]
    assert results == [(False, False), (False, False), (False, True)]


def test_seeding_and_counts():
    a, b, c = MouseGame(), MouseGame(), MouseGame()
    oa, _ = a.reset(seed=3)
    ob, _ = b.reset(seed=3)
    c.reset(seed=4)
    assert np.array_equal(a.items, b.items) and np.array_equal(oa, ob) and not np.array_equal(a.items, c.items)
    assert a.items[CHEESE].sum() == 10 and a.items[POISON].sum() == 5 and a.items[:, a.pos[0], a.pos[1]].sum() == 0


def test_gymnasium_check_env_and_rendering():
    import gymnasium as gym
    from gymnasium.utils.env_checker import check_env

    env = gym.make("trainlab/MouseGame-v0", render_mode="rgb_array")
    check_env(env.unwrapped, skip_render_check=False)
    env.reset(seed=0)
    assert env.render().shape == (12 * 16, 12 * 16, 3)
    text = MouseGame(render_mode="ansi")
    text.reset(seed=0)
    board = text.render().splitlines()
    assert len(board) == 12 and board[0] == "#" * 12 and sum(line.count("M") for line in board) == 1
    full = MouseGame(observation="full")
    assert full.reset(seed=0)[0].shape == (3, 10, 10)


def test_batched_games_follow_the_same_rules():
    games = [MouseGame() for _ in range(6)]
    b = BatchedMouseGame(6, seed=0)
    for i, g in enumerate(games):
        g.reset(seed=i)
        b.set_layout(i, g)
    assert np.allclose(b.observe().numpy(), np.stack([g._obs() for g in games]))
    rng = np.random.default_rng(0)
    for step in range(120):
        a = rng.integers(4, size=6)
        _, r, term, trunc, last, _ = b.step(torch.as_tensor(a))
        for i, g in enumerate(games):
            o, rr, t1, t2, _ = g.step(int(a[i]))
            assert np.allclose(last[i].numpy(), o) and r[i].item() == pytest.approx(rr)
            assert (term[i].item(), trunc[i].item()) == (t1, t2)
            if t1 or t2:
                g.reset(seed=100 + step + i)
                b.set_layout(i, g)


def test_heuristic_goes_for_cheese_and_avoids_poison():
    rng = np.random.default_rng(0)
    view = np.zeros((3, 5, 5), np.float32)
    view[CHEESE, 2, 4] = 1  # two cells to the right
    assert heuristic_action(view, rng) == 3
    view[POISON, 2, 3] = 1  # poison in between: go around
    assert heuristic_action(view, rng) in (0, 1)
