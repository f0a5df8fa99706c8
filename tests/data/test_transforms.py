"""On-device batch augmentation: flips and shifts are exact, rotations keep the image's mass."""
import pytest
import torch

from tests.conftest import recipe_dict
from trainlab.core.config import parse_recipe
from trainlab.core.errors import RecipeError
from trainlab.data.transforms import BatchAugment


def test_flip_mirrors_about_half_the_batch_exactly():
    x = torch.rand(400, 1, 5, 7)
    torch.manual_seed(0)
    y = BatchAugment(flip=True)(x)
    same = [torch.equal(a, b) for a, b in zip(y, x)]
    mirrored = [torch.equal(a, b.flip(-1)) for a, b in zip(y, x)]
    assert all(s or m for s, m in zip(same, mirrored)) and 150 < sum(mirrored) < 250


def test_crop_is_a_whole_pixel_shift_with_zero_padding():
    x = torch.rand(300, 2, 8, 8)
    torch.manual_seed(1)
    y = BatchAugment(crop=2)(x)
    for a, b in zip(y, x):
        ok = False
        for dy in range(-2, 3):
            for dx in range(-2, 3):
                shifted = torch.zeros_like(b)
                src = b[:, max(dy, 0):8 + min(dy, 0), max(dx, 0):8 + min(dx, 0)]
                shifted[:, max(-dy, 0):8 + min(-dy, 0), max(-dx, 0):8 + min(-dx, 0)] = src
                ok |= torch.equal(a, shifted)
        assert ok


def test_small_rotations_keep_most_of_a_centred_image():
    x = torch.zeros(64, 1, 28, 28)
    x[:, :, 9:19, 9:19] = 1.0
    torch.manual_seed(2)
    y = BatchAugment(rotate=15, scale=0.1)(x)
    assert not torch.equal(y, x) and ((y.sum((1, 2, 3)) / 100 - 1).abs() < 0.25).all()


def test_augment_is_refused_where_there_is_no_image(tmp_path):
    import trainlab

    r = recipe_dict(data={"name": "iris", "augment": {"flip": True}})
    with pytest.raises(RecipeError, match="data.augment transforms images"):
        trainlab.run(parse_recipe(r), runs_dir=tmp_path, progress=False)
    assert not [p for p in tmp_path.glob("*") if p.is_dir()]  # refused before a run directory exists
    with pytest.raises(RecipeError, match="augment.flipp"):
        parse_recipe(recipe_dict(data={"name": "iris", "augment": {"flipp": True}}))


def test_the_report_shows_training_images_as_read_and_as_augmented(tmp_path):
    import numpy as np
    from sklearn.datasets import load_digits

    import trainlab
    from trainlab.engine.checkpoint import load_arrays

    d = load_digits()
    np.savez(tmp_path / "d.npz", x=d.images.astype(np.float32), y=d.target)
    r = trainlab.run(tmp_path / "d.npz", ["train.epochs=2", "data.augment.flip=true", "report.interpret=false",
                                          "eval.baselines=false"], runs_dir=tmp_path / "runs", progress=False)
    p = load_arrays(r.path / "pictures" / "examples.npz")
    assert p["labels"].tolist() == [c for c in range(10) for _ in range(8)] and p["images"].shape == (80, 1, 8, 8)
    read = {im.tobytes(): c for im, c in zip(d.images.astype(np.float32), d.target)}
    back = np.round(p["images"][:, 0], 3)  # (normalised and back)
    assert all(read.get(im.tobytes()) == c for im, c in zip(back, p["labels"]))  # training images, as read
    mirrored = [np.allclose(a, b[..., ::-1], atol=1e-3) and not np.allclose(a, b, atol=1e-3)
                for a, b in zip(p["augmented"], p["images"])]
    assert all(m or np.allclose(a, b, atol=1e-3) for m, a, b in zip(mirrored, p["augmented"], p["images"]))
    assert 20 < sum(mirrored) < 60  # about half flipped
    html = (r.path / "report.html").read_text()
    assert 'alt="training images"' in html and 'alt="augmented training images"' in html


def test_large_training_images_are_kept_for_the_report_as_block_means():
    import numpy as np

    from trainlab.data.preview import _small

    x = np.random.default_rng(0).random((2, 3, 130, 70)).astype(np.float32)
    small = _small(x)
    assert small.shape == (2, 3, 43, 23) and small[1, 2, 0, 0] == pytest.approx(x[1, 2, :3, :3].mean(), rel=1e-5)
    assert _small(x[..., :64, :40]).shape == (2, 3, 64, 40)
