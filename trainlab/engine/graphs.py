"""The training step as one CUDA graph. A small model's step is a few dozen kernels, each a
few microseconds of work behind a launch that costs as much: replaying the whole step
(batch gather and decoding, forward, loss, backward, clipping, optimiser, loss sum) as one
recorded graph removes those launches and every Python call between them.

The step reads only static buffers: the epoch's permutation is copied into one, and a device
counter says where the next batch starts, so a replay needs no argument. The learning rate
is a device tensor that the schedulers fill in place, so a changing rate needs no new
capture. The first steps run eagerly on a side stream (they allocate the optimiser state),
then the step is captured once and replayed for every full batch; a last, smaller batch runs
eagerly on the same buffers. Without CUDA (`capture=False`) the same static step runs
eagerly: that is how CPU tests check it against the ordinary loop."""
from __future__ import annotations

import logging
import time

import torch

from .runtime import autocast_without_cache, shared_model

log = logging.getLogger("trainlab")

WARMUP = 3                      # eager steps before capture (the optimiser allocates its state)
FLAGS = ("foreach", "fused", "capturable")
CAPTURABLE_OPTIMIZERS = (torch.optim.SGD, torch.optim.Adam, torch.optim.AdamW)


def unsupported(t, task, fabric, optimizers, precision: str, x) -> str | None:
    """Why this training (on the training inputs `x`) cannot be captured (None: it can)."""
    if t.cuda_graph == "off":
        return "train.cuda_graph = 'off'"
    if fabric.device.type != "cuda":
        return "not on CUDA"
    if shared := shared_model(fabric):
        return shared
    if t.loop == "textbook":
        return "the textbook loop"
    if t.accumulate > 1:
        return "gradient accumulation (train.accumulate)"
    if t.ema:
        return "an average of the weights (train.ema)"
    if x.device != fabric.device:
        return "the training set is streamed from host memory"
    if task.manual or not getattr(task, "graph_safe", False):
        return f"the {task.name} task's step is not a fixed sequence of device work"
    if len(optimizers) != 1 or not isinstance(getattr(optimizers[0], "optimizer", optimizers[0]), CAPTURABLE_OPTIMIZERS):
        return "the optimiser is not SGD, Adam or AdamW"
    if precision not in ("32-true", "bf16-mixed"):
        return f"precision {precision} (a gradient scaler checks for overflow on the host)"
    return None


class StaticStep:
    """One training step over static buffers; captured as a CUDA graph when `capture`."""

    def __init__(self, net, task, optimizer, t, x, y, *, precision: str, weights, augment, capture: bool, decode=None):
        from .loop import _penalty

        self.net, self.task, self.t, self.x, self.y, self.augment, self.decode = net, task, t, x, y, augment, decode
        # step through Fabric's wrapper (the schedulers watch it); set up the optimiser it wraps
        self.step, self.optimizer = optimizer.step, getattr(optimizer, "optimizer", optimizer)
        self.batch = t.batch_size
        dev = x.device
        self.perm = torch.zeros(len(x), dtype=torch.long, device=dev)
        self.pos = torch.zeros((), dtype=torch.long, device=dev)
        self.offsets = torch.arange(self.batch, device=dev)
        self.loss_sum = torch.zeros((), dtype=torch.float64, device=dev)
        self.penalty = (lambda: _penalty(weights, t.l1, t.l2)) if (t.l1 or t.l2) else None
        self.params = [p for g in self.optimizer.param_groups for p in g["params"]]
        self.precision = precision
        self.capture, self.graph, self.warm, self.side, self.capture_seconds = capture, None, 0, None, 0.0
        self.failed = ""  # why capture failed, if it did
        self.eager_flags = [{k: g[k] for k in FLAGS if k in g} for g in self.optimizer.param_groups]
        self._static_optimizer(dev)

    @property
    def status(self) -> str:
        """What fit() reports as fit.cuda_graph: "captured", or why not."""
        if self.graph is not None:
            return "captured"
        if self.failed:
            return f"not captured: {self.failed}"
        if self.capture:
            return "not captured: training ended within the warm-up steps"
        return "not captured: the static step ran without capture (no CUDA)"

    def _static_optimizer(self, dev) -> None:
        """A fused update with the learning rate in a device tensor (capturable for Adam)."""
        for g in self.optimizer.param_groups:
            g["lr"] = torch.tensor(float(g["lr"]), device=dev)
            g["foreach"], g["fused"] = False, True
            if "capturable" in g:
                g["capturable"] = self.capture
        for p, s in self.optimizer.state.items():  # a resumed Adam's step counters go to the device
            if "step" in s:
                s["step"] = s["step"].to(p.device, torch.float32)

    def eager_state(self, state: dict) -> dict:
        """The optimiser's state_dict as the ordinary loop keeps it (float rates, its own flags,
        step counters on the host): a checkpoint resumes with or without graphs, on any device."""
        groups = [{**g, **flags, "lr": float(g["lr"])} for g, flags in zip(state["param_groups"], self.eager_flags)]
        per = {k: {n: (v.cpu() if n == "step" else v) for n, v in s.items()} for k, s in state["state"].items()}
        return {**state, "param_groups": groups, "state": per}

    def _autocast(self):
        # no weight-cast cache: a cached bf16 copy made before capture would be replayed for ever
        return autocast_without_cache(self.precision, self.x.device.type)

    def _body(self, tail: int = 0) -> None:
        if tail:  # the epoch's last, smaller batch: fixed positions, run eagerly
            idx = self.perm[len(self.perm) - tail:]
        else:
            idx = self.perm.index_select(0, self.pos + self.offsets)
            self.pos.add_(self.batch)
        xb, yb = self.x.index_select(0, idx), self.y.index_select(0, idx)
        if self.decode is not None:
            xb = self.decode(xb)
        if self.augment is not None:
            xb = self.augment(xb)
        with self._autocast():
            loss = self.task.training_step(self.net, xb, yb)
            if self.penalty is not None:
                loss = loss + self.penalty()
        loss.backward()
        if self.t.grad_clip:  # no host check of the norm: a non-finite loss is caught at the epoch's end
            torch.nn.utils.clip_grad_norm_(self.params, self.t.grad_clip, error_if_nonfinite=False, foreach=True)
        self.step()
        self.loss_sum.add_(loss.detach().double() * len(idx))

    def _eager(self, tail: int = 0) -> None:
        # once captured, the gradients are the graph's buffers: zero them in place, never drop them
        self.optimizer.zero_grad(set_to_none=self.graph is None)
        self._body(tail)

    def _full(self) -> None:
        if self.graph is not None:
            self.graph.replay()
        elif not self.capture:
            self._eager()
        elif self.warm < WARMUP:
            self.side = self.side or torch.cuda.Stream()
            self.side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(self.side):
                self._eager()
            torch.cuda.current_stream().wait_stream(self.side)
            self.warm += 1
        else:
            self._record()
            if self.graph is not None:
                self.graph.replay()
            else:
                self._eager()

    def _record(self) -> None:
        t0 = time.perf_counter()
        torch.cuda.synchronize()
        self.optimizer.zero_grad(set_to_none=True)  # the graph allocates its own gradient buffers
        graph, stream = torch.cuda.CUDAGraph(), torch.cuda.current_stream()
        self.side = self.side or torch.cuda.Stream()
        try:
            # on the warm-up stream: libraries cache per-stream handles there (cuBLAS, hipBLASLt) and
            # would otherwise create them, and allocate, in the middle of the capture
            with torch.cuda.graph(graph, stream=self.side):
                self._body()
        except RuntimeError as e:  # host work inside the step (a .item(), a data-dependent shape)
            torch.cuda.set_stream(stream)  # a failed capture_end leaves the capture stream current
            self.failed = f"capture failed ({str(e).splitlines()[0]})"
            log.warning("The training step could not be captured as a CUDA graph: %s; it runs eagerly.", self.failed)
            self.capture = False
            for g in self.optimizer.param_groups:
                if "capturable" in g:
                    g["capturable"] = False
            return
        torch.cuda.synchronize()
        self.graph, self.capture_seconds = graph, time.perf_counter() - t0
        log.info("training step captured as a CUDA graph in %.2f s", self.capture_seconds)

    def epoch(self, perm, *, result, bar, step_schedulers, max_steps: int) -> dict[str, float]:
        """One pass in the order `perm`; the mean training loss (one host sync). The time spent
        capturing is added to result.capture_seconds (it is not training time)."""
        n, b = len(self.perm), self.batch
        self.perm.copy_(perm)
        self.pos.zero_()
        self.loss_sum.zero_()
        self.net.train()
        full, tail, seen = n // b, n % b, 0
        capture_before = self.capture_seconds
        for i in range(full + (tail > 0)):
            if i < full:
                self._full()
                seen += b
            else:
                self._eager(tail)
                seen += tail
            for sch in step_schedulers:
                sch.step()
            result.steps += 1
            bar.step(i + 1)
            if max_steps and result.steps >= max_steps:
                break
        result.capture_seconds += self.capture_seconds - capture_before
        return {"train_loss": float(self.loss_sum) / seen}
