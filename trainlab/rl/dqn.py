"""Deep Q-Learning as the course writes it: a replay buffer D; a Q-network Q_θ and a target
network Q_θ⁻; batches of transitions; target r + γ·max_a′ Q_θ⁻(s′, a′) unless the episode is
done; a loss on the difference; ε-greedy with ε decaying to a floor; the greedy policy at the end.
Experience comes from many games stepped at once (BatchedMouseGame)."""
from __future__ import annotations

import copy
import logging
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..core.spec import DataSpec
from ..engine import checkpoint
from .mouse_game import ACTIONS, BatchedMouseGame, MouseGame, heuristic_action
from .registry import DQNConfig

log = logging.getLogger("trainlab")


class ReplayBuffer:
    """A ring of the last `capacity` transitions, kept as tensors on the device."""

    def __init__(self, capacity: int, obs_shape, device):
        self.capacity, self.ptr, self.size = capacity, 0, 0
        self.obs = torch.zeros((capacity, *obs_shape), dtype=torch.uint8, device=device)
        self.next_obs = torch.zeros_like(self.obs)
        self.action = torch.zeros(capacity, dtype=torch.long, device=device)
        self.reward = torch.zeros(capacity, device=device)
        self.terminal = torch.zeros(capacity, device=device)

    def add(self, obs, action, reward, next_obs, terminal) -> None:
        n = len(obs)
        idx = (torch.arange(n, device=obs.device) + self.ptr) % self.capacity
        self.obs[idx], self.next_obs[idx] = obs.to(torch.uint8), next_obs.to(torch.uint8)
        self.action[idx], self.reward[idx], self.terminal[idx] = action, reward, terminal.float()
        self.ptr, self.size = (self.ptr + n) % self.capacity, min(self.size + n, self.capacity)

    def sample(self, n: int, gen):
        idx = torch.randint(0, self.size, (n,), generator=gen).to(self.obs.device)
        return (self.obs[idx].float(), self.action[idx], self.reward[idx], self.next_obs[idx].float(), self.terminal[idx])

    def tensors(self) -> dict:
        return {"buffer.obs": self.obs, "buffer.next_obs": self.next_obs, "buffer.action": self.action,
                "buffer.reward": self.reward, "buffer.terminal": self.terminal}

    def load(self, tensors: dict, ptr: int, size: int) -> None:
        for k in ("obs", "next_obs", "action", "reward", "terminal"):
            getattr(self, k).copy_(tensors[f"buffer.{k}"])
        self.ptr, self.size = ptr, size


def epsilon(cfg: DQNConfig, step: int) -> float:
    """Linear decay from eps_start to eps_end over eps_fraction of the training steps."""
    frac = min(1.0, step / max(1.0, cfg.eps_fraction * cfg.steps))
    return cfg.eps_start + frac * (cfg.eps_end - cfg.eps_start)


def td_loss(q_net, target_net, batch, cfg: DQNConfig):
    obs, action, reward, next_obs, terminal = batch
    q = q_net(obs).gather(1, action[:, None]).squeeze(1)  # Q_θ(s, a)
    with torch.no_grad():
        next_q = target_net(next_obs)
        if cfg.double:  # the online network picks a′, the target network values it (van Hasselt et al., 2016)
            best = q_net(next_obs).argmax(1, keepdim=True)
            next_v = next_q.gather(1, best).squeeze(1)
        else:
            next_v = next_q.max(1).values
        target = reward + cfg.gamma * (1 - terminal) * next_v
    return F.smooth_l1_loss(q, target) if cfg.loss == "huber" else F.mse_loss(q, target)


def observation_spec(env: dict) -> DataSpec:
    w = 2 * env["view_radius"] + 1
    shape = (3, w, w) if env["observation"] == "view" else (3, env["size"], env["size"])
    return DataSpec("image", shape, "class", 4, ACTIONS)


def choose(q: torch.Tensor, policy: str, cfg: DQNConfig, gen) -> torch.Tensor:
    """Actions from Q-values (B, 4) under an evaluation policy."""
    if policy == "softmax":
        probs = torch.softmax(q.float() / cfg.eval_temperature, 1)
        return torch.multinomial(probs.cpu(), 1, generator=gen)[:, 0].to(q.device)
    action = q.argmax(1)
    if policy == "epsilon":
        explore = torch.rand(len(q), generator=gen).to(q.device) < cfg.eval_epsilon
        action = torch.where(explore, torch.randint(0, 4, (len(q),), generator=gen).to(q.device), action)
    return action


@torch.no_grad()
def policy_returns_q(q_net, env: dict, seeds, device, policy: str, cfg: DQNConfig) -> np.ndarray:
    """Returns of a Q-network's policy over the games MouseGame.reset(seed=s) lays out, played
    at once. The view is not the whole state: where the mouse sees nothing the four Q-values
    are nearly equal, and a purely greedy policy walks the same loop forever; the softmax
    policy stays greedy wherever the values differ and picks at random among near-ties."""
    gen = torch.Generator().manual_seed(12345)
    games = BatchedMouseGame(len(seeds), device=device, **env)
    for i, s in enumerate(seeds):
        g = MouseGame(**env)
        g.reset(seed=int(s))
        games.set_layout(i, g)
    total = torch.zeros(len(seeds), device=device)
    live = torch.ones(len(seeds), dtype=torch.bool, device=device)
    was = q_net.training
    q_net.eval()
    while live.any():
        action = choose(q_net(games.observe()), policy, cfg, gen)
        _, reward, term, trunc, _, _ = games.step(action)
        total += reward * live
        live &= ~(term | trunc)
    q_net.train(was)
    return total.cpu().numpy()


def policy_returns(policy: str, env: dict, seeds) -> np.ndarray:
    """Random or scripted-heuristic returns on the same seeded games."""
    rng = np.random.default_rng(0)
    out = []
    for s in seeds:
        g = MouseGame(**env)
        obs, _ = g.reset(seed=int(s))
        total, done = 0.0, False
        while not done:
            a = int(rng.integers(4)) if policy == "random" else heuristic_action(obs, rng)
            obs, r, term, trunc, _ = g.step(a)
            total, done = total + r, term or trunc
        out.append(total)
    return np.asarray(out)


def train(q_net, optimizer, env: dict, cfg: DQNConfig, folder: Path, device, seed: int, progress=None) -> dict:
    """Train q_net in place; checkpoints after every evaluation; resumes from the last one."""
    gen = torch.Generator().manual_seed(seed)
    games = BatchedMouseGame(cfg.n_envs, device=device, seed=seed, **env)
    target_net = copy.deepcopy(q_net)
    buffer = ReplayBuffer(cfg.buffer_size, observation_spec(env).input_shape, device)
    eval_seeds = np.arange(cfg.eval_games) + 1_000_000  # fixed games to follow learning on
    state = {"step": 0, "updates": 0, "history": [], "episodes": [], "best": -np.inf, "seconds": 0.0}
    ckpt = folder / "checkpoints"
    if checkpoint.exists(ckpt, "last"):
        state = _restore(ckpt, q_net, target_net, optimizer, buffer, games, gen)
        log.info("resumed DQN from step %d", state["step"])
    obs = games.observe()
    recent: list[float] = []
    t0, last_eval = time.perf_counter(), state["step"]
    while state["step"] < cfg.steps:
        eps = epsilon(cfg, state["step"])
        with torch.no_grad():
            greedy = q_net(obs).argmax(1)
        explore = torch.rand(cfg.n_envs, generator=gen).to(device) < eps
        action = torch.where(explore, torch.randint(0, 4, (cfg.n_envs,), generator=gen).to(device), greedy)
        next_obs, reward, term, trunc, last, finished = games.step(action)
        buffer.add(obs, action, reward, last, term)  # time-limit ends still bootstrap: only `term` is terminal
        obs = next_obs
        state["step"] += cfg.n_envs
        recent += finished.tolist()
        if buffer.size >= cfg.learning_starts:
            for _ in range(cfg.updates_per_step):
                loss = td_loss(q_net, target_net, buffer.sample(cfg.batch_size, gen), cfg)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                state["updates"] += 1
                if cfg.tau > 0:
                    with torch.no_grad():
                        for p, tp in zip(q_net.parameters(), target_net.parameters()):
                            tp.lerp_(p, cfg.tau)
                elif state["updates"] % cfg.target_update == 0:
                    target_net.load_state_dict(q_net.state_dict())
        if progress:
            progress(state["step"], cfg.steps)
        if state["step"] - last_eval >= cfg.eval_every or state["step"] >= cfg.steps:
            last_eval = state["step"]
            greedy_mean = float(policy_returns_q(q_net, env, eval_seeds, device, cfg.eval_policy, cfg).mean())
            state["seconds"] += time.perf_counter() - t0
            t0 = time.perf_counter()
            row = {"step": state["step"], "epsilon": eps, "train_return": float(np.mean(recent)) if recent else None,
                   "episodes": len(recent), "greedy_return": greedy_mean, "updates": state["updates"],
                   "seconds": state["seconds"]}
            state["history"].append(row)
            recent = []
            log.info("step %d  ε %.3f  training return %s  evaluation return %.3f", row["step"], eps,
                     f"{row['train_return']:.3f}" if row["train_return"] is not None else "-", greedy_mean)
            if greedy_mean > state["best"]:
                state["best"] = greedy_mean
                checkpoint.save(ckpt, "best", q_net.state_dict(), {"step": state["step"], "greedy_return": greedy_mean})
            _save(ckpt, q_net, target_net, optimizer, buffer, games, gen, state)
    best, _ = checkpoint.load(ckpt, "best")
    q_net.load_state_dict(best)
    return state


def _save(folder, q_net, target_net, optimizer, buffer, games, gen, state):
    opt_tensors, opt_rest = checkpoint.optimizer_to_flat(optimizer.state_dict())
    env = games.state()
    tensors = {**{f"q.{k}": v for k, v in q_net.state_dict().items()},
               **{f"target.{k}": v for k, v in target_net.state_dict().items()},
               **opt_tensors, **buffer.tensors(),
               **{f"env.{k}": v for k, v in env.items() if k != "gen"},
               "rng.env": env["gen"], "rng.agent": gen.get_state()}
    meta = {**state, "best": state["best"] if np.isfinite(state["best"]) else None, "optimizer": opt_rest,
            "buffer": {"ptr": buffer.ptr, "size": buffer.size}}
    checkpoint.save(folder, "last", tensors, meta)


def _restore(folder, q_net, target_net, optimizer, buffer, games, gen) -> dict:
    tensors, meta = checkpoint.load(folder, "last")
    q_net.load_state_dict({k[2:]: v for k, v in tensors.items() if k.startswith("q.")})
    target_net.load_state_dict({k[7:]: v for k, v in tensors.items() if k.startswith("target.")})
    optimizer.load_state_dict(checkpoint.optimizer_from_flat(tensors, meta.pop("optimizer")))
    buffer.load(tensors, **meta.pop("buffer"))
    games.load_state({**{k[4:]: v for k, v in tensors.items() if k.startswith("env.")}, "gen": tensors["rng.env"]})
    gen.set_state(tensors["rng.agent"])
    meta["best"] = meta["best"] if meta["best"] is not None else -np.inf
    return meta
