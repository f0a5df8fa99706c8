"""One reinforcement-learning run: build the Q-network from the model registry, train it with
DQN, then play 100 seeded evaluation games with the greedy policy, a random policy and the
scripted heuristic, and gather the pictures for the report."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from ..core.config import Recipe
from .dqn import choose, observation_spec, policy_returns, policy_returns_q, train
from .mouse_game import ACTIONS, MouseGame
from .registry import AGENTS, ENVIRONMENTS

EVAL_SEEDS = np.arange(100)  # the 100 evaluation games: MouseGame.reset(seed=0..99)


def summary(returns: np.ndarray) -> dict:
    return {"mean": float(returns.mean()), "std": float(returns.std(ddof=1)), "min": float(returns.min()),
            "max": float(returns.max()), "n": int(len(returns))}


def run_rl(path: Path, recipe: Recipe, device: str, progress: bool) -> dict:
    from ..core.seed import seed_everything
    from ..engine.callbacks import Progress
    from ..engine.optim import OPTIMIZERS, build_optimizer
    from ..models import build_model

    env = ENVIRONMENTS.get(recipe.env.name).build(**recipe.env.params)
    cfg = AGENTS.get(recipe.agent.name).build(**recipe.agent.params)
    seed_everything(recipe.seed)
    spec = observation_spec(env)
    q_net = build_model(recipe.model.name, spec, 4, **recipe.model.params).to(device)
    opt_entry = OPTIMIZERS.get(recipe.optim.name)
    optimizer = build_optimizer(opt_entry, q_net.parameters(), opt_entry.validate(recipe.optim.params, "optim"))
    bar = Progress(1, max(1, cfg.steps // cfg.n_envs), recipe.name, enabled=progress)
    t0 = time.perf_counter()
    try:
        state = train(q_net, optimizer, env, cfg, path, torch.device(device), recipe.seed,
                      progress=lambda step, total: bar.step(step // cfg.n_envs))
    finally:
        bar.close()
    wall = time.perf_counter() - t0
    trained = policy_returns_q(q_net, env, EVAL_SEEDS, torch.device(device), cfg.eval_policy, cfg)
    pure = policy_returns_q(q_net, env, EVAL_SEEDS, torch.device(device), "greedy", cfg)
    random, heuristic = policy_returns("random", env, EVAL_SEEDS), policy_returns("heuristic", env, EVAL_SEEDS)
    return {
        "kind": "rl", "env": {"name": recipe.env.name, **env}, "agent": {"name": recipe.agent.name, **cfg.__dict__},
        "eval": {"games": len(EVAL_SEEDS), "seeds": "MouseGame.reset(seed=0..99)", "greedy": summary(trained),
                 "policy": _describe(cfg), "pure_greedy": summary(pure),
                 "random": summary(random), "heuristic": summary(heuristic)},
        "history": state["history"],
        "fit": {"env_steps": state["step"], "updates": state["updates"], "train_seconds": state["seconds"],
                "wall_seconds": wall, "parameters": sum(p.numel() for p in q_net.parameters()), "device": device,
                "best_greedy_return_during_training": state["best"]},
        "pictures": pictures(q_net, env, cfg, device),
    }


def _describe(cfg) -> str:
    return {"softmax": f"softmax over Q / {cfg.eval_temperature}", "epsilon": f"ε-greedy, ε = {cfg.eval_epsilon}",
            "greedy": "greedy"}[cfg.eval_policy]


@torch.no_grad()
def pictures(q_net, env: dict, cfg, device) -> dict:
    """One evaluation game as frames, and the Q-values of the four actions on a view."""
    game = MouseGame(**env)
    obs, _ = game.reset(seed=int(EVAL_SEEDS[0]))
    frames, total, done, sample = [game.to_rgb(cell=12)], 0.0, False, None
    gen = torch.Generator().manual_seed(0)
    q_net.eval()
    while not done:
        q = q_net(torch.as_tensor(obs, device=device)[None])[0].cpu().numpy()
        if sample is None and obs[0].sum() > 0 and obs[1].sum() > 0:  # a view with cheese and poison in it
            sample = {"view": obs.tolist(), "q": q.tolist()}
        obs, r, term, trunc, _ = game.step(int(choose(torch.as_tensor(q)[None], cfg.eval_policy, cfg, gen)[0]))
        total, done = total + r, term or trunc
        frames.append(game.to_rgb(cell=12))
    if sample is None:
        sample = {"view": obs.tolist(), "q": q_net(torch.as_tensor(obs, device=device)[None])[0].cpu().tolist()}
    return {"frames": frames, "game_return": total, "q_sample": {**sample, "actions": list(ACTIONS)}}
