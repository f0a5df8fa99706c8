"""The Mouse Game of the course (Deep Q-Learning lab) as a Gymnasium environment.

A mouse walks a grid surrounded by walls. Entering a cheese cell gives +0.5, a poison cell -1;
the item is eaten. Moves are deterministic; walking into a wall leaves the mouse in place. The
mouse sees the cells within 2 squares: a 5×5 view as channels (cheese, poison, wall). An episode
ends when no cheese is left or after `horizon` steps.

`BatchedMouseGame` steps many games at once as tensors (on the GPU when present), with the same
rules, so that acting is not the bottleneck of training."""
from __future__ import annotations

import numpy as np

import gymnasium as gym
from gymnasium import spaces

CHEESE, POISON, WALL = 0, 1, 2
REWARD_CHEESE, REWARD_POISON = 0.5, -1.0
MOVES = np.array([[-1, 0], [1, 0], [0, -1], [0, 1]])  # up, down, left, right (row, col)
ACTIONS = ("up", "down", "left", "right")


class MouseGame(gym.Env):
    metadata = {"render_modes": ["rgb_array", "ansi"], "render_fps": 4}

    def __init__(self, size: int = 10, n_cheese: int = 10, n_poison: int = 5, horizon: int = 100,
                 view_radius: int = 2, observation: str = "view", render_mode: str | None = None):
        if n_cheese + n_poison + 1 > size * size:
            raise ValueError(f"{n_cheese} cheese + {n_poison} poison + the mouse do not fit on a {size}×{size} grid")
        if observation not in ("view", "full"):
            raise ValueError(f"observation must be 'view' or 'full', not {observation!r}")
        self.size, self.n_cheese, self.n_poison, self.horizon = size, n_cheese, n_poison, horizon
        self.r, self.observation, self.render_mode = view_radius, observation, render_mode
        w = 2 * view_radius + 1
        shape = (3, w, w) if observation == "view" else (3, size, size)
        self.observation_space = spaces.Box(0.0, 1.0, shape=shape, dtype=np.float32)
        self.action_space = spaces.Discrete(4)
        self.items = np.zeros((2, size, size), np.float32)  # (cheese, poison) per cell
        self.pos = np.zeros(2, np.int64)
        self.t = 0

    # --- state ---

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        cells = self.np_random.permutation(self.size * self.size)[: self.n_cheese + self.n_poison + 1]
        self.items[:] = 0
        rows, cols = np.divmod(cells, self.size)
        self.items[CHEESE, rows[: self.n_cheese], cols[: self.n_cheese]] = 1
        self.items[POISON, rows[self.n_cheese:-1], cols[self.n_cheese:-1]] = 1
        self.pos = np.array([rows[-1], cols[-1]])
        self.t = 0
        return self._obs(), self._info()

    def step(self, action):
        if not self.action_space.contains(action):
            raise ValueError(f"action must be 0..3 (up, down, left, right), not {action!r}")
        target = self.pos + MOVES[int(action)]
        if (0 <= target).all() and (target < self.size).all():
            self.pos = target
        r, c = self.pos
        reward = REWARD_CHEESE * self.items[CHEESE, r, c] + REWARD_POISON * self.items[POISON, r, c]
        self.items[:, r, c] = 0
        self.t += 1
        terminated = not self.items[CHEESE].any()
        truncated = self.t >= self.horizon and not terminated
        return self._obs(), float(reward), bool(terminated), bool(truncated), self._info()

    def _info(self) -> dict:
        return {"cheese_left": int(self.items[CHEESE].sum()), "poison_left": int(self.items[POISON].sum()), "t": self.t}

    def padded(self) -> np.ndarray:
        """(3, size + 2r, size + 2r): cheese, poison and wall channels with r cells of wall around."""
        r, s = self.r, self.size
        out = np.zeros((3, s + 2 * r, s + 2 * r), np.float32)
        out[WALL] = 1
        out[WALL, r:r + s, r:r + s] = 0
        out[:2, r:r + s, r:r + s] = self.items
        return out

    def _obs(self) -> np.ndarray:
        if self.observation == "full":
            full = np.zeros((3, self.size, self.size), np.float32)
            full[:2] = self.items
            full[2, self.pos[0], self.pos[1]] = 1  # the mouse
            return full
        r = self.r
        row, col = self.pos  # the view centred on the mouse: padded[row : row + 2r + 1]
        return self.padded()[:, row:row + 2 * r + 1, col:col + 2 * r + 1].copy()

    # --- pictures ---

    def render(self):
        if self.render_mode == "ansi":
            return self.to_text()
        if self.render_mode == "rgb_array":
            return self.to_rgb()
        return None

    def to_text(self) -> str:
        rows = ["#" * (self.size + 2)]
        for i in range(self.size):
            line = ""
            for j in range(self.size):
                line += "M" if (i, j) == tuple(self.pos) else "C" if self.items[CHEESE, i, j] else \
                    "P" if self.items[POISON, i, j] else "."
            rows.append("#" + line + "#")
        return "\n".join(rows + [rows[0]])

    def to_rgb(self, cell: int = 16) -> np.ndarray:
        """The board as an image: cheese red, poison blue (the course's colours), mouse grey, wall black."""
        s = self.size + 2
        img = np.full((s, s, 3), 245, np.uint8)
        img[0], img[-1], img[:, 0], img[:, -1] = 30, 30, 30, 30
        img[1:-1, 1:-1][self.items[CHEESE] > 0] = (220, 40, 40)
        img[1:-1, 1:-1][self.items[POISON] > 0] = (40, 70, 220)
        r, c = self.pos
        img[r + 1, c + 1] = (120, 120, 120)
        view = np.zeros((s, s), bool)
        view[max(r + 1 - self.r, 0): r + 2 + self.r, max(c + 1 - self.r, 0): c + 2 + self.r] = True
        img[view & (img.sum(-1) == 3 * 245)] = (255, 236, 160)  # what the mouse sees
        return np.kron(img, np.ones((cell, cell, 1), np.uint8))


def heuristic_action(view: np.ndarray, rng: np.random.Generator) -> int:
    """The scripted baseline: step toward the nearest visible cheese, never onto visible poison
    or into a wall; when no cheese is visible, a random safe step."""
    r = view.shape[-1] // 2
    safe = [a for a, (dr, dc) in enumerate(MOVES) if not (view[POISON, r + dr, r + dc] or view[WALL, r + dr, r + dc])]
    if not safe:
        return int(rng.integers(4))
    cheese = np.argwhere(view[CHEESE] > 0) - r  # offsets from the mouse
    if len(cheese):
        target = cheese[np.abs(cheese).sum(1).argmin()]
        # closest after the move: Manhattan distance first, straight-line distance to break ties (go around poison)
        key = {a: (np.abs(target - MOVES[a]).sum(), ((target - MOVES[a]) ** 2).sum()) for a in safe}
        best = min(key.values())
        return int(rng.choice([a for a in safe if key[a] == best]))
    return int(rng.choice(safe))


gym.register(id="trainlab/MouseGame-v0", entry_point="trainlab.rl.mouse_game:MouseGame")


class BatchedMouseGame:
    """B Mouse Games stepped together as tensors, same rules as MouseGame. Finished games are
    reset at once; `step` also returns each game's last observation before that reset, so a
    transition (s, a, r, s') is always whole."""

    def __init__(self, n: int, size: int = 10, n_cheese: int = 10, n_poison: int = 5, horizon: int = 100,
                 view_radius: int = 2, observation: str = "view", device="cpu", seed: int = 0):
        import torch

        self.observation = observation
        self.n, self.size, self.n_cheese, self.n_poison, self.horizon, self.r = n, size, n_cheese, n_poison, horizon, view_radius
        self.device = torch.device(device)
        self.gen = torch.Generator(device="cpu").manual_seed(seed)
        self.items = torch.zeros(n, 2, size, size, device=self.device)
        self.pos = torch.zeros(n, 2, dtype=torch.long, device=self.device)
        self.t = torch.zeros(n, dtype=torch.long, device=self.device)
        self.ret = torch.zeros(n, device=self.device)
        self.moves = torch.as_tensor(MOVES, device=self.device)
        w = torch.arange(2 * view_radius + 1, device=self.device)
        self.win_r, self.win_c = w[None, :, None], w[None, None, :]
        self.all = torch.arange(n, device=self.device)
        self.reset_games(torch.ones(n, dtype=torch.bool, device=self.device))

    def state(self) -> dict:
        return {"items": self.items, "pos": self.pos, "t": self.t, "ret": self.ret, "gen": self.gen.get_state()}

    def load_state(self, s: dict) -> None:
        self.items.copy_(s["items"]), self.pos.copy_(s["pos"]), self.t.copy_(s["t"]), self.ret.copy_(s["ret"])
        self.gen.set_state(s["gen"])

    def set_layout(self, i: int, game: MouseGame) -> None:
        """Copy a MouseGame's board into game i (tests compare the two implementations)."""
        import torch

        self.items[i] = torch.as_tensor(game.items, device=self.device)
        self.pos[i] = torch.as_tensor(game.pos, device=self.device)
        self.t[i], self.ret[i] = game.t, 0

    def reset_games(self, mask) -> None:
        import torch

        idx = mask.nonzero().flatten()
        if len(idx) == 0:
            return
        k = self.n_cheese + self.n_poison + 1
        cells = torch.rand(len(idx), self.size * self.size, generator=self.gen).argsort(1)[:, :k].to(self.device)
        rows, cols = cells // self.size, cells % self.size
        items = torch.zeros(len(idx), 2, self.size, self.size, device=self.device)
        b = torch.arange(len(idx), device=self.device)[:, None]
        items[b, 0, rows[:, :self.n_cheese], cols[:, :self.n_cheese]] = 1
        items[b, 1, rows[:, self.n_cheese:-1], cols[:, self.n_cheese:-1]] = 1
        self.items[idx] = items
        self.pos[idx] = torch.stack([rows[:, -1], cols[:, -1]], 1)
        self.t[idx], self.ret[idx] = 0, 0

    def observe(self):
        """(B, 3, 2r+1, 2r+1) views: cheese, poison, wall (or (B, 3, S, S): cheese, poison, mouse)."""
        import torch
        import torch.nn.functional as F

        if self.observation == "full":
            mouse = torch.zeros_like(self.items[:, :1])
            mouse[self.all, 0, self.pos[:, 0], self.pos[:, 1]] = 1
            return torch.cat([self.items, mouse], 1)

        pad = F.pad(self.items, (self.r,) * 4)  # (B, 2, S+2r, S+2r)
        wall = F.pad(torch.zeros_like(self.items[:, :1]), (self.r,) * 4, value=1.0)
        full = torch.cat([pad, wall], 1)
        rows = self.pos[:, 0, None, None] + self.win_r  # (B, w, 1): padded coordinates of the window
        cols = self.pos[:, 1, None, None] + self.win_c  # (B, 1, w)
        return full[self.all[:, None, None], :, rows, cols].permute(0, 3, 1, 2).contiguous()  # (B, w, w, 3) → (B, 3, w, w)

    def step(self, actions):
        """→ (obs after any resets, reward, terminated, truncated, last obs before resets, finished returns)."""
        import torch

        target = self.pos + self.moves[actions]
        inside = ((target >= 0) & (target < self.size)).all(1, keepdim=True)
        self.pos = torch.where(inside, target, self.pos)
        r, c = self.pos[:, 0], self.pos[:, 1]
        here = self.items[self.all, :, r, c]  # (B, 2)
        reward = REWARD_CHEESE * here[:, 0] + REWARD_POISON * here[:, 1]
        self.items[self.all, :, r, c] = 0
        self.t += 1
        self.ret += reward
        terminated = self.items[:, 0].sum((1, 2)) == 0
        truncated = (self.t >= self.horizon) & ~terminated
        last = self.observe()
        done = terminated | truncated
        finished = self.ret[done].clone()
        self.reset_games(done)
        return self.observe(), reward, terminated, truncated, last, finished
