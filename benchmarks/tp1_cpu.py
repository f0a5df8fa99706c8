"""tp1 on the CPU: trainlab against the textbook DataLoader loop, Lightning's Trainer and a
hand-written loop over one shuffled tensor, in one process, on the same data and model
(Fashion-MNIST, 784-64-32-10 ReLU MLP, SGD lr 0.01, batch 64, 12 epochs).

Epoch time is the training pass (median over epochs 2..N: epoch 1 holds warm-up). Prints one
JSON line. Usage: python benchmarks/tp1_cpu.py [--epochs 12] [--rounds 1]"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import trainlab  # noqa: E402
from trainlab.core.config import load_recipe  # noqa: E402
from trainlab.data.prepare import load_raw, prepare  # noqa: E402

RECIPE = REPO / "recipes" / "tp1-mlp.toml"


def course_mlp(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))


def accuracy(model, x, y) -> float:
    model.eval()
    with torch.inference_mode():
        return float((model(x).argmax(1) == y).float().mean())


def textbook(data, epochs, seed):
    """The course notebook's loop: DataLoader(shuffle=True), .item() every step."""
    from torch.utils.data import DataLoader, TensorDataset

    x, y = data
    model = course_mlp(seed)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True)
    times = []
    for _ in range(epochs):
        model.train()
        t0, running = time.perf_counter(), 0.0
        for xb, yb in loader:
            opt.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            running += loss.item()
        times.append(time.perf_counter() - t0)
    return model, times


def hand_tensor_loop(data, epochs, seed):
    """The floor: one tensor, a permutation per epoch, no DataLoader, no per-step sync."""
    x, y = data
    model = course_mlp(seed)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    times = []
    for _ in range(epochs):
        model.train()
        t0 = time.perf_counter()
        perm, losses = torch.randperm(len(x)), []
        for i in range(0, len(x), 64):
            idx = perm[i:i + 64]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.detach())
        torch.stack(losses).mean().item()
        times.append(time.perf_counter() - t0)
    return model, times


def lightning_trainer(data, epochs, seed):
    import lightning as L
    from torch.utils.data import DataLoader, TensorDataset

    class Module(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = course_mlp(seed)

        def training_step(self, batch, _):
            xb, yb = batch
            loss = F.cross_entropy(self.net(xb), yb)
            self.log("train_loss", loss, on_epoch=True, on_step=False)
            return loss

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.01)

    class Timer(L.Callback):
        def __init__(self):
            self.times = []

        def on_train_epoch_start(self, *_):
            self.t0 = time.perf_counter()

        def on_train_epoch_end(self, *_):
            self.times.append(time.perf_counter() - self.t0)

    x, y = data
    timer, module = Timer(), Module()
    trainer = L.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, callbacks=[timer])
    trainer.fit(module, DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True))
    return module.net, timer.times


def trainlab_run(epochs, seed, runs_dir):
    r = trainlab.run(RECIPE, [f"train.epochs={epochs}", "eval.baselines=false", "report.html=false",
                              "train.early_stopping.patience=0", f"seed={seed}"], runs_dir=runs_dir, progress=False)
    return r.metrics["test"]["accuracy"], [h["time"] for h in r.history]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--skip-lightning", action="store_true")
    args = ap.parse_args()

    recipe = load_recipe(RECIPE)
    d = recipe.data
    prepared = prepare(load_raw(d.name, d.params), val_fraction=d.val_fraction, test_fraction=d.test_fraction,
                       stratify=d.stratify, normalize=d.normalize, seed=recipe.seed)
    s = prepared.split
    train = (torch.as_tensor(s.x_train), torch.as_tensor(s.y_train))
    test = (torch.as_tensor(s.x_test), torch.as_tensor(s.y_test))

    per = {k: [] for k in ("textbook", "lightning", "hand_tensor_loop", "trainlab")}
    acc = {}
    with tempfile.TemporaryDirectory() as runs_dir:
        for rnd in range(args.rounds):
            for name in per:
                if name == "lightning" and args.skip_lightning:
                    continue
                if name == "trainlab":
                    acc[name], times = trainlab_run(args.epochs, rnd, runs_dir)
                else:
                    fn = {"textbook": textbook, "lightning": lightning_trainer, "hand_tensor_loop": hand_tensor_loop}[name]
                    model, times = fn(train, args.epochs, rnd)
                    acc[name] = accuracy(model, *test)
                per[name].append(statistics.median(times[1:] if len(times) > 1 else times))
    epoch = {k: statistics.median(v) for k, v in per.items() if v}
    out = {
        "bench": "tp1_cpu", "epochs": args.epochs, "rounds": args.rounds, "threads": torch.get_num_threads(),
        "torch": torch.__version__, "epoch_seconds": {k: round(v, 4) for k, v in epoch.items()},
        "test_accuracy_last_round": {k: round(v, 4) for k, v in acc.items()},
        "speedup_vs_textbook": {k: round(epoch["textbook"] / v, 2) for k, v in epoch.items()},
    }
    if "lightning" in epoch:
        out["speedup_vs_lightning"] = round(epoch["lightning"] / epoch["trainlab"], 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
