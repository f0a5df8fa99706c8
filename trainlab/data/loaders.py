"""Batches. The fast path keeps the whole dataset as one tensor on the device and draws each
epoch's permutation from a generator seeded by (seed, epoch): no worker processes, no
per-sample Python, and an epoch's order is known again after a resume."""
from __future__ import annotations

import math


class TensorLoader:
    """Yields (x, y) batches sliced from tensors: device-resident ones, or (data too large for
    the device) host tensors whose batches are gathered on the host and copied to `device`."""

    def __init__(self, x, y, batch_size: int, *, shuffle: bool, seed: int = 0, device=None, decode=None):
        assert len(x) == len(y)
        self.x, self.y, self.batch_size, self.shuffle, self.seed = x, y, batch_size, shuffle, seed
        self.device = device if device is not None else x.device
        self.decode = decode  # 8-bit pixels → normalised floats, on the device (see Normalizer.pixels)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return math.ceil(len(self.x) / self.batch_size)

    @property
    def samples(self) -> int:
        return len(self.x)

    def order(self):
        import torch

        if not self.shuffle:
            return None
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return torch.randperm(len(self.x), generator=g).to(self.x.device)

    def __iter__(self):
        perm, b, n = self.order(), self.batch_size, len(self.x)
        stream = self.x.device != self.device
        for i in range(0, n, b):
            if perm is None:
                xb, yb = self.x[i:i + b], self.y[i:i + b]
            else:
                idx = perm[i:i + b]
                # index_select copies whole rows; x[idx] walks every element (3x slower on CPU)
                xb, yb = self.x.index_select(0, idx), self.y.index_select(0, idx)
            if stream:
                xb, yb = xb.to(self.device, non_blocking=True), yb.to(self.device, non_blocking=True)
            yield (xb if self.decode is None else self.decode(xb)), yb


def textbook_loader(x, y, batch_size: int, *, shuffle: bool, seed: int, epoch: int):
    """The course's torch DataLoader over a TensorDataset, for comparison (train.loop = "textbook").
    It visits the samples in the fast loader's order, so both loops do the same arithmetic; its own
    generator seeds its iterator, which would otherwise draw from the global generator and shift
    every dropout mask after it."""
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    order = TensorLoader(x, y, batch_size, shuffle=shuffle, seed=seed)
    order.set_epoch(epoch)
    perm = order.order()
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, sampler=perm.tolist() if perm is not None else None,
                      generator=torch.Generator().manual_seed(seed))


class ShardedLoader:
    """Data-parallel batches: every process draws the same permutation for an epoch (a shared seed),
    keeps its strided shard of it on its device, and walks it in order. The processes' batch k
    together are exactly batch k of one process with a batch `world` times larger, so W processes ×
    batch B follow one process × batch W·B. A tail of fewer than `world` samples is left out."""

    def __init__(self, x, y, batch_size: int, *, seed: int, rank: int, world: int, device, stream: bool = False,
                 decode=None):
        self.x, self.y = x.cpu(), y.cpu()  # the host copy; only the epoch's shard goes to the device
        self.batch_size, self.seed, self.rank, self.world, self.device = batch_size, seed, rank, world, device
        self.stream = stream  # the shard too is too large for the device: copy batch by batch
        self.decode = decode
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return -(-self.samples // self.batch_size)

    @property
    def samples(self) -> int:
        """This process's samples in an epoch: its shard of all but the tail."""
        return len(self.x) // self.world

    def __iter__(self):
        import torch

        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        perm = torch.randperm(len(self.x), generator=g)
        idx = perm[:len(perm) - len(perm) % self.world][self.rank::self.world]
        x, y = self.x.index_select(0, idx), self.y.index_select(0, idx)
        if not self.stream:
            x, y = x.to(self.device), y.to(self.device)
        for i in range(0, len(x), self.batch_size):
            xb, yb = x[i:i + self.batch_size], y[i:i + self.batch_size]
            if self.stream:
                xb, yb = xb.to(self.device), yb.to(self.device)
            yield (xb if self.decode is None else self.decode(xb)), yb
