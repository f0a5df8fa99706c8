"""fit(): the one training loop. Mini-batches from device-resident tensors, the loss
accumulated on the device and read once per epoch, validation every epoch, early stopping
that keeps the best weights, and a checkpoint after every epoch from which a run resumes
exactly (same batches, same dropout masks, same optimiser state)."""
from __future__ import annotations

import json
import logging
import math
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..core.config import Recipe
from ..core.errors import RecipeError, TrainlabError
from ..tasks.base import monitored
from . import checkpoint, sharding
from .callbacks import EarlyStopping, Progress
from .optim import OPTIMIZERS, SCHEDULES, build_optimizer
from .runtime import autocast_without_cache, fits_on_device, precision_name, shared_model

log = logging.getLogger("trainlab")


@dataclass
class FitResult:
    history: list[dict] = field(default_factory=list)
    best_epoch: int = -1
    stopped_early: bool = False
    train_seconds: float = 0.0
    steps: int = 0
    graph: str = ""               # "captured", or why the step was not captured as a CUDA graph
    capture_seconds: float = 0.0  # capture warm-up, not counted in train_seconds
    backward: str = "autograd"    # "written out" (engine/analytic.py), or "autograd: " and why not
    parameters_held: int = 0      # parameter values the first process holds (its shard under FSDP)


def _penalty(weights: list, l1: float, l2: float):
    if weights and sharding.is_shard(weights[0]):  # FSDP: each process penalises the shard it holds
        return sharding.summed_over_shards(_penalty([w.to_local() for w in weights], l1, l2))
    total = 0.0
    if l1:
        total = total + l1 * sum(w.abs().sum() for w in weights)
    if l2:
        total = total + l2 * sum(w.pow(2).sum() for w in weights)
    return total


def _validate(model, task, x, y, batch_size) -> dict[str, float]:
    return {f"val_{k}": float(v) for k, v in task.validate(model, x, y, batch_size).items()}  # one sync per epoch


def _batches(recipe: Recipe, x, y, seed: int, epoch: int, fabric=None, stream: bool = False, decode=None):
    from ..data.loaders import ShardedLoader, TensorLoader, textbook_loader

    b = recipe.train.batch_size
    if fabric is not None and fabric.world_size > 1:
        loader = ShardedLoader(x, y, b, seed=seed, rank=fabric.global_rank, world=fabric.world_size, device=fabric.device,
                               stream=stream, decode=decode)
        loader.set_epoch(epoch)
        return loader
    if recipe.train.loop == "textbook":
        return textbook_loader(x.cpu(), y.cpu(), b, shuffle=True, seed=seed, epoch=epoch)
    loader = TensorLoader(x, y, b, shuffle=True, seed=seed, device=fabric.device if fabric is not None else None,
                          decode=decode)
    loader.set_epoch(epoch)
    return loader


def fit(model, task, data, recipe: Recipe, folder: Path, fabric, *, seed: int, resume: bool = False,
        progress: bool = True, describe: dict | None = None, on_epoch=None) -> FitResult:
    """Train `model` on data.split; `describe` (recipe, spec, preprocessing) goes into every
    checkpoint so that each one says what it is. `on_epoch(row)` sees each epoch's row once it is
    checkpointed (a sweep reports it and may stop the trial by raising)."""
    t = recipe.train
    dev = fabric.device
    ydt = task.target_dtype()
    s = data.split
    world, main = fabric.world_size, fabric.is_global_zero
    sharded = sharding.is_sharded(fabric)  # FSDP: gathering the checkpoint's tensors takes every process
    # one process holds all training data on its device; several keep it on the host and move each
    # epoch's shard (see ShardedLoader). Data too large for the device stays on the host and
    # is copied batch by batch.
    x_tr, y_tr = torch.as_tensor(s.x_train), torch.as_tensor(s.y_train).to(ydt)
    x_tr, decode = _pixels(data, x_tr, t, dev)
    nbytes = (x_tr.numel() * x_tr.element_size() + y_tr.numel() * y_tr.element_size()) // world
    stream = t.resident == "host" or (t.resident == "auto" and not fits_on_device(nbytes, dev))
    if stream and dev.type != "cpu":
        log.info("the training set (%.1f GB) is streamed from host memory", nbytes / 1e9)
    if world == 1 and not stream:
        x_tr, y_tr = x_tr.to(dev), y_tr.to(dev)
    x_va, y_va = torch.as_tensor(s.x_val).to(dev), torch.as_tensor(s.y_val).to(dev, ydt)
    batches_per_epoch = -(-(len(x_tr) // world) // t.batch_size)
    steps_per_epoch = -(-batches_per_epoch // t.accumulate)  # optimiser steps, what the schedules count
    if t.accumulate > 1 and task.manual:
        raise RecipeError(f"train.accumulate = {t.accumulate}: the {task.name} task steps its optimisers itself; "
                          "accumulate gradients over batches only for tasks with one loss.")

    opt_entry = OPTIMIZERS.get(recipe.optim.name)
    opt_params = opt_entry.validate(recipe.optim.params, "optim")
    if t.scale_lr and world > 1:  # the linear scaling rule, only when asked
        opt_params = {**opt_params, "lr": opt_params["lr"] * world}
    # the model first, then optimisers over its parameters as set up (sharding replaces them)
    model = fabric.setup_module(model)
    optimizers = fabric.setup_optimizers(*task.optimizers(model.module,
                                                          lambda ps: build_optimizer(opt_entry, ps, opt_params)))
    optimizers = list(optimizers) if isinstance(optimizers, tuple) else [optimizers]
    held, total = sharding.held(model)
    if sharded and main:
        log.info("FSDP: the first process holds %s of the %s parameter values (%.0f%%)", f"{held:,}", f"{total:,}",
                 100 * held / total)
    optimizer = optimizers[0]  # its learning rate is logged
    sched_entry = SCHEDULES.get(recipe.schedule.name)
    sched_params = sched_entry.validate(recipe.schedule.params, "schedule")
    built = [sched_entry.build(o, {"epochs": t.epochs, "steps_per_epoch": steps_per_epoch}, **sched_params)
             for o in optimizers]
    schedulers, interval = [s_ for s_, _ in built if s_ is not None], built[0][1]
    weights = [p for n, p in model.named_parameters() if p.ndim > 1]
    augment = _augmentation(recipe, task, data.spec)
    t0 = time.perf_counter()
    net, x_tr, x_va, decode = _frozen_features(model, t, augment, fabric, x_tr, x_va, decode)
    feature_seconds = time.perf_counter() - t0 if net is not None else 0.0
    ema = None
    if t.ema:
        why = "its parameters are sharded (FSDP)" if sharded else "a frozen encoder trains its head on features" \
            if net is not None else f"the {task.name} task steps its optimisers itself" if task.manual else None
        if why:
            raise RecipeError(f"train.ema = {t.ema}: not here, {why}.")
        from .averaging import WeightAverage

        ema = WeightAverage(model.module, t.ema)
    monitor = t.early_stopping.monitor
    stopper = EarlyStopping(t.early_stopping.patience, t.early_stopping.min_delta,
                            higher_is_better=monitored(task.name, monitor) == "max")
    result, start = FitResult(parameters_held=held), 0
    ckpt_dir = folder / "checkpoints"
    if resume and checkpoint.exists(ckpt_dir, "last"):
        start = _restore(ckpt_dir, model, optimizers, schedulers, stopper, result, ema)
        # the log holds exactly the checkpointed epochs, whatever the kill left behind
        if main:
            (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in result.history))
        log.info("resumed from the checkpoint after epoch %d", start)
    result.train_seconds += feature_seconds  # training time, though no epoch's
    static, eager_because = _static_step(net or model.module, task, optimizers, t, x_tr, y_tr, fabric, weights, augment,
                                         decode)
    analytic, autograd_because = _analytic_step(net or model.module, task, optimizers, t, fabric) if static is None \
        else (None, "the step is a CUDA graph")
    result.backward = "written out" if analytic is not None else f"autograd: {autograd_because}"
    bar = Progress(t.epochs, batches_per_epoch, recipe.name, enabled=progress and main, main=main)
    bar.start(start)
    try:
        for epoch in range(start, t.epochs):
            if stopper.should_stop or (t.max_steps and result.steps >= t.max_steps):
                break
            t0, capture0 = time.perf_counter(), result.capture_seconds
            step_schedulers = schedulers if interval == "step" else []
            if static is not None:
                train_losses = static.epoch(_batches(recipe, x_tr, y_tr, seed, epoch).order(), result=result, bar=bar,
                                            step_schedulers=step_schedulers, max_steps=t.max_steps)
            else:
                train_losses = _train_epoch(fabric, model, optimizers, step_schedulers, task, t, net,
                                            _batches(recipe, x_tr, y_tr, seed, epoch, fabric, stream, decode), weights,
                                            result, bar, augment, analytic, ema)
            train_seconds = time.perf_counter() - t0 - (result.capture_seconds - capture0)
            judged = ema.module if ema is not None else net or model  # what is kept: the average, if any
            row = {"epoch": epoch + 1, **train_losses, **_validate(judged, task, x_va, y_va, t.eval_batch_size),
                   "lr": float(optimizer.param_groups[0]["lr"]), "time": train_seconds}
            if world > 1:  # every process stops, keeps and logs as the first does: under FSDP each keeps its own
                row = fabric.broadcast(row, src=0)  # BatchNorm statistics, so their validation losses differ
            result.train_seconds += row["time"]
            bad = [k for k, v in row.items() if k.startswith(("train_", "val_")) and not math.isfinite(v)]
            if bad:
                raise TrainlabError(
                    f"Training diverged in epoch {epoch + 1}: {bad[0]} is {row[bad[0]]}. Lower optim.lr (now "
                    f"{optimizer.param_groups[0]['lr']:g}), clip gradients (train.grad_clip = 1.0) or check the data. "
                    "Epochs before this one are checkpointed.")
            for sch in schedulers:
                if interval == "epoch":
                    sch.step()
                elif interval == "plateau":
                    sch.step(row["val_loss"])  # the plateau schedule watches the loss, whatever stops training
            improved = stopper.update(row[monitor], epoch + 1)  # the same on every process
            pictures = task.epoch_pictures(model)
            result.history.append(row)
            result.best_epoch = stopper.best_epoch
            if main or sharded:
                tensors, meta = _last_state(model, optimizers, schedulers, stopper, result, epoch + 1, describe or {},
                                            static, sharded, ema)
            if main:  # one process writes; the others wait for it at the barrier
                if improved:
                    kept = "ema." if ema is not None else "model."
                    best = {k[len(kept):]: v for k, v in tensors.items() if k.startswith(kept)}
                    checkpoint.save(ckpt_dir, "best", best, {**(describe or {}), **row})
                if pictures:
                    checkpoint.save_arrays(folder / "pictures" / f"epoch-{epoch + 1:03d}.npz", pictures)
                checkpoint.save(ckpt_dir, "last", tensors, meta)
                with open(folder / "metrics.jsonl", "a") as f:
                    f.write(json.dumps(row) + "\n")
            if world > 1:
                fabric.barrier()
            bar.epoch(row)
            if on_epoch is not None:
                on_epoch(row)
    finally:
        bar.close()
    result.stopped_early = stopper.should_stop and len(result.history) < t.epochs
    result.graph = static.status if static is not None else f"not captured: {eager_because}"
    tensors, _ = checkpoint.load(ckpt_dir, "best")
    sharding.load_model(model, tensors)
    return result


def _pixels(data, x, t, dev):
    """(training inputs, decoder). On an accelerator, images normalised from 8-bit pixels stay there
    as the pixels (a quarter of the memory, and of the bytes each batch reads) and each batch is
    normalised on the device. On the CPU the float32 arrays are in memory already: decoding each
    batch would only add work."""
    if t.loop != "fast" or dev.type == "cpu" or data.normalizer is None:
        return x, None
    pixels = data.normalizer.pixels(x)
    return (x, None) if pixels is None else (pixels[0], pixels[1].to(dev))


def _frozen_features(model, t, augment, fabric, x_tr, x_va, decode):
    """A model whose first part is frozen and fixed (a frozen pretrained encoder: `frozen_split()`)
    trains its rest on features computed once per sample, instead of running the encoder at every
    step, when one process holds the whole model. Returns (the part the steps call or None, x_tr, x_va,
    decode)."""
    split = getattr(model.module, "frozen_split", None)
    alone = shared_model(fabric) is None
    parts = split() if split is not None and alone and augment is None and t.loop == "fast" else None
    if parts is None:
        return None, x_tr, x_va, decode
    features, rest = parts
    x_tr, x_va = (_features(features, x, t.eval_batch_size, fabric, decode) for x in (x_tr, x_va))
    log.info("frozen features of %d samples computed once", len(x_tr) + len(x_va))
    return rest, x_tr, x_va, None


@torch.no_grad()  # not inference mode: the features are inputs the rest's backward saves
def _features(fn, x, batch_size, fabric, decode):
    out = []
    with fabric.autocast():
        for i in range(0, len(x), batch_size):
            xb = x[i:i + batch_size].to(fabric.device)
            out.append(fn(xb if decode is None else decode(xb)))
    return torch.cat(out).to(x.device)


def _static_step(module, task, optimizers, t, x, y, fabric, weights, augment, decode):
    """(the CUDA-graph step, None) when this training allows it (see graphs.py); (None, why not) for
    the eager loop."""
    from . import graphs

    precision = precision_name(fabric)
    reason = graphs.unsupported(t, task, fabric, optimizers, precision, x)
    if reason is not None:
        if fabric.device.type == "cuda":
            log.info("the training step runs eagerly: %s", reason)
        return None, reason
    return graphs.StaticStep(module, task, optimizers[0], t, x, y, precision=precision, weights=weights,
                             augment=augment, decode=decode, capture=fabric.device.type == "cuda"), None


def _analytic_step(module, task, optimizers, t, fabric):
    """(the MLP step with its backward written out, None) where it applies (see analytic.py); else
    (None, why not)."""
    from . import analytic

    reason = analytic.unsupported(module, task, fabric, t, optimizers)
    if reason is not None:
        return None, reason
    params = [p for o in optimizers for g in o.param_groups for p in g["params"]]
    return analytic.AnalyticStep(module, task, optimizers[0], t, params), None


def _augmentation(recipe: Recipe, task, spec):
    from ..data.transforms import BatchAugment

    return BatchAugment.checked(recipe.data.augment, task.name, spec.kind, len(spec.input_shape))


def _train_epoch(fabric, model, optimizers, step_schedulers, task, t, net, batches, weights, result, bar,
                 augment=None, analytic=None, ema=None) -> dict:
    """One pass over the training batches; returns the mean training losses (one host sync). `net`:
    what the steps call when it is not the model (the trainable part of a partly frozen one);
    `analytic`: the step with its backward written out, when the model is a plain MLP."""
    textbook = t.loop == "textbook"
    dev = fabric.device
    # Fabric's wrapper adds per-call overhead that one device does not need: call the module
    # itself inside Fabric's precision context (DDP keeps the wrapper for its hooks).
    single = fabric.world_size == 1 and not textbook
    net = net or (model.module if single else model)
    # likewise fabric.backward: for one device without a gradient scaler it is loss.backward()
    plain_backward = single and getattr(fabric.strategy.precision, "scaler", None) is None
    backward = (lambda loss: loss.backward()) if plain_backward else fabric.backward
    optimizer = optimizers[0]
    # Autocast keeps each weight's bf16 copy until its context exits, and the optimiser changes the
    # weights at every step: one context per step, around the forward (the backward runs outside, as
    # PyTorch's AMP recipe says). A task that updates weights inside its step (a GAN's two players)
    # runs without that cache.
    precision = precision_name(fabric)
    model.train()
    losses, sizes = [], []
    acc, n_batches, group = t.accumulate, len(batches), 1
    n_samples = getattr(batches, "samples", None) or len(getattr(batches, "dataset", ()))  # (a torch DataLoader)
    for i, (xb, yb) in enumerate(batches):
        if textbook:
            xb, yb = xb.to(dev), yb.to(dev)
        if augment is not None:
            xb = augment(xb)
        stepped = True
        if task.manual:
            with autocast_without_cache(precision, dev.type):
                parts = task.manual_step(net, xb, yb, optimizers, backward)
        elif analytic is not None:
            parts = {"loss": analytic(xb, yb)}
        else:
            stepped = i % acc == acc - 1 or i == n_batches - 1  # the last batch of its group: the step
            if i % acc == 0:
                optimizer.zero_grad(set_to_none=True)
                if acc > 1:  # the samples this step sums over: fewer batches, and a short one, at the epoch's end
                    group = sum(min(t.batch_size, n_samples - j * t.batch_size) for j in range(i, min(i + acc, n_batches)))
            # the gradients of the group's batches summed, each batch's mean loss weighted by its share of
            # the group's samples (the gradient of one batch as large as the group); until the group's
            # last batch, data-parallel processes keep theirs to themselves (forward and backward)
            with fabric.no_backward_sync(model, enabled=not stepped and fabric.world_size > 1) if acc > 1 else nullcontext():
                with fabric.autocast():
                    loss = task.training_step(net, xb, yb)
                    if t.l1 or t.l2:
                        loss = loss + _penalty(weights, t.l1, t.l2)
                backward(loss * (len(yb) / group) if acc > 1 else loss)
            if stepped:
                if t.grad_clip:
                    fabric.clip_gradients(model, optimizer, max_norm=t.grad_clip)
                optimizer.step()
            parts = {"loss": loss}
        if stepped:
            for sch in step_schedulers:
                sch.step()
            result.steps += 1
            if ema is not None:
                ema.update(result.steps)
        # the textbook loop reads the loss every step; the fast loop keeps it on the device
        losses.append({k: v.item() if textbook else v.detach() for k, v in parts.items()})
        sizes.append(len(yb))
        bar.step(i + 1)
        if t.max_steps and result.steps >= t.max_steps:
            break
    w = torch.tensor(sizes, dtype=torch.float64)
    means = {}
    for k in losses[0]:
        v = torch.tensor([r[k] for r in losses], dtype=torch.float64) if textbook else \
            torch.stack([r[k] for r in losses]).double().cpu()  # one sync for the epoch
        means[f"train_{k}"] = (v * w).sum() / w.sum()
    if fabric.world_size > 1:  # every process saw the same number of samples: the mean of the means
        means = {k: fabric.all_reduce(v.to(dev), reduce_op="mean") for k, v in means.items()}
    return {k: float(v) for k, v in means.items()}


def _last_state(model, optimizers, schedulers, stopper, result, epoch, describe, static=None, sharded=False, ema=None):
    """The "last" checkpoint: (tensors, meta); the model's tensors are named "model.*". Sharded
    tensors are gathered whole (every process calls this)."""
    whole = sharding.gathered if sharded else dict
    tensors, opt_rest = {f"model.{k}": v for k, v in whole(model.state_dict()).items()}, []
    if ema is not None:  # the average of the weights, "ema.*"
        tensors.update({f"ema.{k}": v for k, v in ema.module.state_dict().items()})
    for i, o in enumerate(optimizers):
        state = o.state_dict() if static is None else static.eager_state(o.state_dict())
        if sharded:
            state = sharding.optimizer_gathered(state)
        flat, rest = checkpoint.optimizer_to_flat(state, f"optim{i}")
        tensors.update(flat)
        opt_rest.append(rest)
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        tensors["rng.cuda"] = torch.cuda.get_rng_state()
    meta = {**describe, "epoch": epoch, "steps": result.steps, "train_seconds": result.train_seconds,
            "history": result.history, "early_stopping": stopper.state(), "optimizers": opt_rest,
            "capture_seconds": result.capture_seconds,
            "schedulers": [_floats(sch.state_dict()) for sch in schedulers]}
    return tensors, meta


def _floats(state):
    """A scheduler's state with its rates as numbers (they are device tensors under a CUDA graph)."""
    if isinstance(state, dict):
        return {k: _floats(v) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(_floats(v) for v in state)
    return float(state) if isinstance(state, torch.Tensor) else state


def _load_schedule(sch, state: dict) -> None:
    """A scheduler's checkpointed state. A one-cycle run checkpointed before trainlab wrote one-cycle
    in closed form holds torch's OneCycleLR state: the same rates, so its step count is all it needs
    (the optimiser's checkpoint holds the current rate)."""
    if isinstance(sch, torch.optim.lr_scheduler.LambdaLR) and "lr_lambdas" not in state:
        state = {**sch.state_dict(), "last_epoch": state["last_epoch"], "_step_count": state["_step_count"],
                 "_last_lr": state["_last_lr"]}
    sch.load_state_dict(state)


def _restore(folder, model, optimizers, schedulers, stopper, result, ema=None) -> int:
    tensors, meta = checkpoint.load(folder, "last")  # whole tensors, into shards or not
    sharding.load_model(model, {k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    if ema is not None:  # (a checkpoint without an average: it starts from the weights restored)
        averaged = {k[4:]: v for k, v in tensors.items() if k.startswith("ema.")}
        ema.module.load_state_dict(averaged or {k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    for i, (o, rest) in enumerate(zip(optimizers, meta["optimizers"])):
        sharding.load_optimizer(o, checkpoint.optimizer_from_flat(tensors, rest, f"optim{i}"))
    for sch, state in zip(schedulers, meta["schedulers"]):
        _load_schedule(sch, state)
    stopper.load(meta["early_stopping"])
    torch.set_rng_state(tensors["rng.torch"])
    if "rng.cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors["rng.cuda"])
    result.history, result.steps, result.train_seconds = meta["history"], meta["steps"], meta["train_seconds"]
    result.capture_seconds = meta.get("capture_seconds", 0.0)
    result.best_epoch = stopper.best_epoch
    return meta["epoch"]
