import torch

from trainlab.data.loaders import ShardedLoader, TensorLoader


def test_streamed_shards_are_the_resident_shards():
    x, y = torch.arange(103.0).reshape(-1, 1), torch.arange(103)
    for rank in (0, 1):
        kw = dict(seed=3, rank=rank, world=2, device=torch.device("cpu"))
        a, b = ShardedLoader(x, y, 8, **kw), ShardedLoader(x, y, 8, stream=True, **kw)
        a.set_epoch(2), b.set_epoch(2)
        pairs = list(zip(a, b))
        assert len(pairs) == 7 and all(torch.equal(p[0], q[0]) and torch.equal(p[1], q[1]) for p, q in pairs)


def test_every_sample_once_per_epoch_in_a_new_order():
    x, y = torch.arange(50.0).reshape(-1, 1), torch.arange(50)
    loader = TensorLoader(x, y, 16, shuffle=True, seed=1, device=torch.device("cpu"))
    orders = []
    for epoch in (0, 1):
        loader.set_epoch(epoch)
        orders.append(torch.cat([yb for _, yb in loader]))
    assert all(sorted(o.tolist()) == list(range(50)) for o in orders) and not torch.equal(*orders)


def test_batches_of_8_bit_pixels_decode_to_the_normalised_batches():
    import numpy as np

    from trainlab.data.transforms import Normalizer

    u = np.random.default_rng(0).integers(0, 256, (70, 1, 6, 6)).astype(np.uint8)
    x = torch.from_numpy(Normalizer.fit(u, "standard", "image").apply(u))
    pixels, decode = Normalizer.fit(u, "standard", "image").pixels(x)
    y = torch.arange(70)
    kw = dict(shuffle=True, seed=2, device=torch.device("cpu"))
    for (a, ya), (b, yb) in zip(TensorLoader(x, y, 16, **kw), TensorLoader(pixels, y, 16, decode=decode, **kw)):
        assert torch.equal(a, b) and torch.equal(ya, yb)
    shard = dict(seed=2, rank=1, world=2, device=torch.device("cpu"))
    for (a, _), (b, _) in zip(ShardedLoader(x, y, 8, **shard), ShardedLoader(pixels, y, 8, decode=decode, **shard)):
        assert torch.equal(a, b)
    assert Normalizer.fit(u, "standard", "image").pixels(x * 1.001) is None  # not 8-bit pixels: left as they are
