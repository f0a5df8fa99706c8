"""Early stopping and progress display."""
from __future__ import annotations

import logging
import math
import sys
import time

log = logging.getLogger("trainlab")


class EarlyStopping:
    """Stop when the monitored value has not improved by min_delta for `patience` epochs. `best` is
    kept as a score to minimise: the value, or minus the value when higher is better."""

    def __init__(self, patience: int, min_delta: float, higher_is_better: bool = False):
        self.patience, self.min_delta, self.sign = patience, min_delta, -1.0 if higher_is_better else 1.0
        self.best, self.best_epoch, self.bad_epochs = math.inf, -1, 0

    def update(self, value: float, epoch: int) -> bool:
        """Record an epoch's value; True when it is the best so far."""
        value = self.sign * value
        if value < self.best - self.min_delta:
            self.best, self.best_epoch, self.bad_epochs = value, epoch, 0
            return True
        self.bad_epochs += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.patience > 0 and self.bad_epochs >= self.patience

    def state(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch, "bad_epochs": self.bad_epochs}

    def load(self, s: dict) -> None:
        self.best, self.best_epoch, self.bad_epochs = s["best"], s["best_epoch"], s["bad_epochs"]


class Progress:
    """A rich progress bar on a terminal; one log line per epoch otherwise. Updating the bar
    never reads a device value, so it forces no host sync."""

    def __init__(self, epochs: int, steps_per_epoch: int, title: str, enabled: bool = True, main: bool = True):
        """`enabled`: draw the bar; `main`: this is the first (or only) process, which logs the epochs."""
        self.epochs, self.steps = epochs, steps_per_epoch
        self.every = max(1, steps_per_epoch // 50)
        self.bar, self.main = None, main
        self.t0 = time.perf_counter()
        if enabled and sys.stderr.isatty():
            from rich.progress import BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn, \
                TimeElapsedColumn, TimeRemainingColumn

            self.bar = RichProgress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                    TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TextColumn("ETA"),
                                    TimeRemainingColumn(), transient=False)
            self.task = self.bar.add_task(title, total=epochs * steps_per_epoch, info="")
            self.bar.start()

    def start(self, done_epochs: int) -> None:
        if self.bar:
            self.bar.update(self.task, completed=done_epochs * self.steps)

    def step(self, i: int) -> None:
        if self.bar and i % self.every == 0:
            self.bar.update(self.task, advance=self.every)

    def epoch(self, row: dict) -> None:
        info = "  ".join(f"{k} {v:.4g}" for k, v in row.items() if isinstance(v, float) and k != "time")
        if self.bar:
            self.bar.update(self.task, completed=row["epoch"] * self.steps, info=f"epoch {row['epoch']}/{self.epochs}  {info}")
        elif self.main:
            log.info("epoch %d/%d  %s", row["epoch"], self.epochs, info)

    def close(self) -> None:
        if self.bar:
            self.bar.stop()
