"""trainlab against its peers on one classification recipe, in one process, on the same data, model
(built from trainlab's registry), optimiser, batch size and device: the textbook DataLoader loop
(batches moved to the device every step, .item() every step), Lightning's Trainer, a hand-written
loop over one device-resident shuffled tensor (on CUDA also the same loop with its step captured
as a CUDA graph), and trainlab itself. Default: the course's tp1
(Fashion-MNIST, 784-64-32-10 ReLU MLP, SGD lr 0.01, batch 64, 12 epochs).

Epoch time is the training pass (median over epochs 2..N: epoch 1 holds warm-up and compilation).
Prints one JSON line with epoch times, throughput, test accuracy and ratios.
Usage: python benchmarks/engine_vs_peers.py [--recipe recipes/tp1-mlp.toml] [--epochs 12] [--rounds 1]
       [--device auto|cpu|cuda] [--skip-lightning] [--with-compile] [--set KEY=VALUE ...]
--with-compile adds the hand-written loop with its model under torch.compile."""
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
from trainlab.data.prepare import prepare_config  # noqa: E402
from trainlab.engine.optim import OPTIMIZERS  # noqa: E402
from trainlab.models import build_model  # noqa: E402

RECIPE = REPO / "recipes" / "tp1-mlp.toml"


class Work:
    """The recipe's model, optimiser, loss and batch size, identical for every contender."""

    def __init__(self, recipe, spec, device):
        self.recipe, self.spec, self.device = recipe, spec, device
        self.batch = recipe.train.batch_size
        self.smoothing = recipe.task.params.get("label_smoothing", 0.0)

    def model(self, seed: int) -> nn.Module:
        torch.manual_seed(seed)
        m = self.recipe.model
        return build_model(m.name, self.spec, self.spec.num_classes, **m.params).to(self.device)

    def optimizer(self, params):
        entry = OPTIMIZERS.get(self.recipe.optim.name)
        return entry.build(params, **entry.validate(self.recipe.optim.params, "optim"))

    def loss(self, out, y):
        return F.cross_entropy(out, y, label_smoothing=self.smoothing)


def _sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def accuracy(model, x, y) -> float:
    model.eval()
    with torch.inference_mode():
        return float(torch.cat([model(x[i:i + 1000]).argmax(1) for i in range(0, len(x), 1000)]).eq(y).float().mean())


def textbook(work, data, epochs, seed):
    """The course notebook's loop: DataLoader(shuffle=True), batches to the device, .item() every step."""
    from torch.utils.data import DataLoader, TensorDataset

    x, y = (t.cpu() for t in data)
    model = work.model(seed)
    opt = work.optimizer(model.parameters())
    loader = DataLoader(TensorDataset(x, y), batch_size=work.batch, shuffle=True)
    times = []
    for _ in range(epochs):
        model.train()
        t0, running = time.perf_counter(), 0.0
        for xb, yb in loader:
            xb, yb = xb.to(work.device), yb.to(work.device)
            opt.zero_grad()
            loss = work.loss(model(xb), yb)
            loss.backward()
            opt.step()
            running += loss.item()
        times.append(time.perf_counter() - t0)
    return model, times


def hand_tensor_loop(work, data, epochs, seed, compiled=False):
    """A hand-written fast loop: one device-resident tensor, a permutation per epoch, no per-step sync.
    compiled: the model under torch.compile (compilation happens in epoch 1, which is left out)."""
    x, y = data
    model = work.model(seed)
    if compiled:
        model = torch.compile(model)
    opt = work.optimizer(model.parameters())
    times = []
    for _ in range(epochs):
        model.train()
        t0 = time.perf_counter()
        perm, losses = torch.randperm(len(x), device=x.device), []
        for i in range(0, len(x), work.batch):
            idx = perm[i:i + work.batch]
            loss = work.loss(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.detach())
        torch.stack(losses).mean().item()
        times.append(time.perf_counter() - t0)
    return model, times


def hand_graph_loop(work, data, epochs, seed):
    """The hand-written fast loop with the step captured as one CUDA graph (PyTorch's "whole
    network capture" recipe: warm-up on a side stream, capture, replay). CUDA only."""
    x, y = data
    model = work.model(seed)
    opt = work.optimizer(model.parameters())
    b, n = work.batch, len(x) - len(x) % work.batch  # static shapes: the partial batch is left out
    sx, sy = x[:b].clone(), y[:b].clone()

    def step():
        loss = work.loss(model(sx), sy)
        loss.backward()
        opt.step()
        return loss

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            opt.zero_grad(set_to_none=True)
            step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    opt.zero_grad(set_to_none=True)
    with torch.cuda.graph(graph):
        static_loss = step()
    times = []
    for _ in range(epochs):
        model.train()
        t0 = time.perf_counter()
        perm, total = torch.randperm(len(x), device=x.device), torch.zeros((), device=x.device)
        for i in range(0, n, b):
            idx = perm[i:i + b]
            torch.index_select(x, 0, idx, out=sx)
            torch.index_select(y, 0, idx, out=sy)
            graph.replay()
            total += static_loss.detach()
        total.item()
        times.append(time.perf_counter() - t0)
    return model, times


def lightning_trainer(work, data, epochs, seed):
    import lightning as L
    from torch.utils.data import DataLoader, TensorDataset

    class Module(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = work.model(seed)

        def training_step(self, batch, _):
            xb, yb = batch
            loss = work.loss(self.net(xb), yb)
            self.log("train_loss", loss, on_epoch=True, on_step=False)
            return loss

        def configure_optimizers(self):
            return work.optimizer(self.parameters())

    class Timer(L.Callback):
        def __init__(self):
            self.times = []

        def on_train_epoch_start(self, *_):
            self.t0 = time.perf_counter()

        def on_train_epoch_end(self, *_):
            self.times.append(time.perf_counter() - self.t0)

    x, y = (t.cpu() for t in data)
    timer, module = Timer(), Module()
    trainer = L.Trainer(max_epochs=epochs, accelerator=work.device, devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, callbacks=[timer])
    trainer.fit(module, DataLoader(TensorDataset(x, y), batch_size=work.batch, shuffle=True))
    return module.net.to(work.device), timer.times


def trainlab_run(recipe_path, overrides, epochs, seed, runs_dir, device):
    r = trainlab.run(recipe_path, [*overrides, f"train.epochs={epochs}", "eval.baselines=false", "report.html=false",
                                   "report.interpret=false", "train.early_stopping.patience=0", f"seed={seed}",
                                   f"train.device={device}"], runs_dir=runs_dir, progress=False)
    return r.metrics["test"]["accuracy"], [h["time"] for h in r.history], r.metrics["fit"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--recipe", type=Path, default=RECIPE)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--skip-lightning", action="store_true")
    ap.add_argument("--with-compile", action="store_true")
    ap.add_argument("--set", action="append", default=[], help="a recipe override for every contender, e.g. data.limit=6000")
    args = ap.parse_args()
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device

    recipe = load_recipe(args.recipe, args.set)
    prepared = prepare_config(recipe.data, recipe.seed)
    s = prepared.split
    train = (torch.as_tensor(s.x_train).to(device), torch.as_tensor(s.y_train).to(device))
    test = (torch.as_tensor(s.x_test).to(device), torch.as_tensor(s.y_test).to(device))
    work = Work(recipe, prepared.spec, device)

    names = ["textbook", "lightning", "hand_tensor_loop"] + (["hand_compiled_loop"] if args.with_compile else []) + \
        (["hand_graph_loop"] if device == "cuda" else []) + ["trainlab"]
    per = {k: [] for k in names}
    acc, fit = {}, {}
    with tempfile.TemporaryDirectory() as runs_dir:
        for rnd in range(args.rounds):
            for name in per:
                if name == "lightning" and args.skip_lightning:
                    continue
                if name == "trainlab":
                    acc[name], times, fit = trainlab_run(args.recipe, args.set, args.epochs, rnd, runs_dir, device)
                else:
                    fn = {"textbook": textbook, "lightning": lightning_trainer, "hand_tensor_loop": hand_tensor_loop,
                          "hand_compiled_loop": lambda *a: hand_tensor_loop(*a, compiled=True),
                          "hand_graph_loop": hand_graph_loop}[name]
                    model, times = fn(work, train, args.epochs, rnd)
                    acc[name] = accuracy(model, *test)
                per[name].append(statistics.median(times[1:] if len(times) > 1 else times))
    epoch = {k: statistics.median(v) for k, v in per.items() if v}
    out = {
        "bench": "engine_vs_peers", "recipe": args.recipe.name, "overrides": args.set, "device": device,
        "gpu": torch.cuda.get_device_name() if device == "cuda" else None, "trainlab_precision": fit.get("precision"),
        "trainlab_cuda_graph": fit.get("cuda_graph"), "trainlab_capture_seconds": round(fit.get("capture_seconds", 0.0), 3),
        "epochs": args.epochs, "rounds": args.rounds, "threads": torch.get_num_threads(), "torch": torch.__version__,
        "epoch_seconds": {k: round(v, 4) for k, v in epoch.items()},
        "samples_per_second": {k: round(len(train[0]) / v) for k, v in epoch.items()},
        "test_accuracy_last_round": {k: round(v, 4) for k, v in acc.items()},
        "speedup_vs_textbook": {k: round(epoch["textbook"] / v, 2) for k, v in epoch.items()},
    }
    if "lightning" in epoch:
        out["speedup_vs_lightning"] = round(epoch["lightning"] / epoch["trainlab"], 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
