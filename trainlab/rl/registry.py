"""Environments and agents, by the names recipes use."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..core.registry import Count, Positive, Registry, Share, Size

ENVIRONMENTS = Registry("environment")
AGENTS = Registry("agent")


@ENVIRONMENTS.register("trainlab/MouseGame-v0")
def mouse_game(*, size: int = 10, n_cheese: int = 10, n_poison: int = 5, horizon: int = 100, view_radius: int = 2,
               observation: Literal["view", "full"] = "view") -> dict:
    """The course's Mouse Game: cheese +0.5, poison -1, a 5×5 view (or the full grid), deterministic moves."""
    from ..core.errors import RecipeError

    if n_cheese < 1 or n_poison < 0 or n_cheese + n_poison + 1 > size * size:
        raise RecipeError(f"env: {n_cheese} cheese and {n_poison} poison do not fit on a {size}×{size} grid with the mouse.")
    return dict(size=size, n_cheese=n_cheese, n_poison=n_poison, horizon=horizon, view_radius=view_radius,
                observation=observation)


@dataclass(frozen=True)
class DQNConfig:
    steps: int
    n_envs: int
    buffer_size: int
    batch_size: int
    gamma: float
    learning_starts: int
    updates_per_step: int
    target_update: int
    tau: float
    eps_start: float
    eps_end: float
    eps_fraction: float
    double: bool
    loss: str
    eval_every: int
    eval_games: int
    eval_policy: str
    eval_temperature: float
    eval_epsilon: float


@AGENTS.register("dqn")
def dqn(*, steps: Count = 300_000, n_envs: Count = 64, buffer_size: Count = 100_000, batch_size: Count = 256,
        gamma: Share = 0.9, learning_starts: Size = 5_000, updates_per_step: Count = 2, target_update: Count = 500,
        tau: Share = 0.0, eps_start: Share = 1.0, eps_end: Share = 0.02, eps_fraction: Share = 0.5,
        double: bool = True, loss: Literal["mse", "huber"] = "huber", eval_every: Count = 25_000,
        eval_games: Count = 100, eval_policy: Literal["softmax", "epsilon", "greedy"] = "softmax",
        eval_temperature: Positive = 0.02, eval_epsilon: Share = 0.05) -> DQNConfig:
    """Deep Q-Learning (Mnih et al., 2015): replay buffer, target network (periodic copy, or Polyak when tau > 0),
    ε-greedy with linear decay, optional double DQN. Evaluation policy: softmax over Q / eval_temperature (greedy
    wherever actions differ, random among near-ties), ε-greedy with eval_epsilon (Mnih et al.), or purely greedy."""
    return DQNConfig(steps, n_envs, buffer_size, batch_size, gamma, learning_starts, updates_per_step, target_update,
                     tau, eps_start, eps_end, eps_fraction, double, loss, eval_every, eval_games, eval_policy,
                     eval_temperature, eval_epsilon)
