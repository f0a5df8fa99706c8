"""Mouse Game environment throughput: the plain single-game Gymnasium loop against
BatchedMouseGame (many games stepped as tensors), on every device available, random actions.
Prints one JSON line. Usage: python benchmarks/mouse_env.py [--games 1024] [--steps 200]"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from trainlab.rl.mouse_game import BatchedMouseGame, MouseGame  # noqa: E402


def single(steps: int) -> float:
    g, rng = MouseGame(), np.random.default_rng(0)
    g.reset(seed=0)
    t0 = time.perf_counter()
    for _ in range(steps):
        _, _, term, trunc, _ = g.step(int(rng.integers(4)))
        if term or trunc:
            g.reset()
    return steps / (time.perf_counter() - t0)


def batched(games: int, steps: int, device: str) -> float:
    env = BatchedMouseGame(games, device=device)
    actions = torch.randint(0, 4, (steps, games), device=device)
    env.step(actions[0])  # warm-up
    if device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for a in actions:
        env.step(a)
    if device == "cuda":
        torch.cuda.synchronize()
    return games * steps / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--games", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=200)
    args = ap.parse_args()
    out = {"bench": "mouse_env", "single_game_steps_per_s": round(single(20000))}
    for device in ["cpu"] + (["cuda"] if torch.cuda.is_available() else []):
        rate = batched(args.games, args.steps, device)
        out[f"batched_{device}_steps_per_s"] = round(rate)
        out[f"batched_{device}_vs_single"] = round(rate / out["single_game_steps_per_s"], 1)
    out["games"] = args.games
    print(json.dumps(out))


if __name__ == "__main__":
    main()
