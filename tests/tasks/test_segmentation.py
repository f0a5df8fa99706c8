"""Segmentation: the data readers (S-BSST265 layout, images + masks), targets, object matching,
tiled inference and a short U-Net run, all on numbers that can fail."""
import numpy as np
import pytest
import torch
from torch import nn

import trainlab
from tests.conftest import recipe_dict
from trainlab.core.config import parse_recipe
from trainlab.core.errors import DataError
from trainlab.data.datasets import sbsst265, segmentation_folder, synthetic_nuclei
from trainlab.tasks.segmentation import match_objects, tiled_logits, touching_borders, weight_map

tifffile = pytest.importorskip("tifffile")


def _nuclei_pair(rng, h=40, w=48):
    """A 16-bit fluorescence image with two touching square nuclei and its instance mask."""
    labels = np.zeros((h, w), np.uint16)
    labels[5:15, 5:15], labels[5:15, 15:25], labels[25:35, 30:42] = 1, 2, 7
    image = (200 + 3000 * (labels > 0) + rng.normal(0, 50, (h, w))).clip(0, 65535).astype(np.uint16)
    return image, labels


def write_sbsst265(root, n=4, seed=0):
    """The published layout: rawimages/<name>.tif and groundtruth/<name>.tif (instance ids)."""
    rng = np.random.default_rng(seed)
    (root / "rawimages").mkdir(parents=True)
    (root / "groundtruth").mkdir()
    for i in range(n):
        image, labels = _nuclei_pair(rng, 40 + 4 * (i % 2), 48)
        tifffile.imwrite(root / "rawimages" / f"Ganglioneuroblastoma_{i}.tif", image)
        tifffile.imwrite(root / "groundtruth" / f"Ganglioneuroblastoma_{i}.tif", labels)
    return root


def test_sbsst265_reader_normalises_pads_and_keeps_instances(tmp_path):
    raw = sbsst265(path=str(write_sbsst265(tmp_path / "S-BSST265"))).validate()
    assert raw.x.shape == (4, 1, 44, 48) and raw.y.shape == (4, 44, 48) and raw.target == "mask"
    assert raw.y[0, 40:].min() == -1 and raw.y[1].min() == 0  # smaller image padded, padding ignored
    assert sorted(np.unique(raw.y[1])) == [0, 1, 2, 3]  # the file's ids 1, 2, 7: three nuclei, renumbered
    second = sorted((tmp_path / "S-BSST265" / "groundtruth").glob("*.tif"))[1]
    assert np.array_equal(raw.y[1, :44] == 3, tifffile.imread(second) == 7)
    inside, outside = raw.x[1, 0][raw.y[1] > 0], raw.x[1, 0][raw.y[1] == 0]
    assert 0.9 < np.percentile(inside, 50) < 1.1 and abs(np.percentile(outside, 50)) < 0.1  # percentile scaling


def test_sbsst265_reader_names_the_bad_file(tmp_path):
    root = write_sbsst265(tmp_path / "S-BSST265")
    (root / "groundtruth" / "Ganglioneuroblastoma_2.tif").unlink()
    with pytest.raises(DataError, match="Ganglioneuroblastoma_2.tif.*has no mask"):
        sbsst265(path=str(root))
    tifffile.imwrite(root / "groundtruth" / "Ganglioneuroblastoma_2.tif", np.zeros((10, 10), np.uint16))
    with pytest.raises(DataError, match="40×48 but its mask.*10×10"):
        sbsst265(path=str(root))
    (root / "rawimages" / "Ganglioneuroblastoma_3.tif").write_bytes(b"II*\x00garbage")
    (root / "groundtruth" / "Ganglioneuroblastoma_2.tif").unlink()
    tifffile.imwrite(root / "groundtruth" / "Ganglioneuroblastoma_2.tif", _nuclei_pair(np.random.default_rng(0))[1])
    with pytest.raises(DataError, match="Cannot read image .*Ganglioneuroblastoma_3.tif"):
        sbsst265(path=str(root))


def test_colour_coded_png_masks_become_instances(tmp_path):
    from PIL import Image

    (tmp_path / "images").mkdir(), (tmp_path / "masks").mkdir()
    image, labels = _nuclei_pair(np.random.default_rng(1))
    Image.fromarray((image // 256).astype(np.uint8)).save(tmp_path / "images" / "a.png")
    colours = np.array([[0, 0, 0], [255, 0, 0], [0, 255, 0]] + [[0, 0, 255]] * 5, np.uint8)
    Image.fromarray(colours[labels]).save(tmp_path / "masks" / "a.png")
    raw = segmentation_folder(path=str(tmp_path))
    assert len(np.unique(raw.y[0])) == 4  # background + three objects, the two touching ones kept apart


def test_touching_borders_and_weight_map():
    labels = np.zeros((20, 30), np.int32)
    labels[5:15, 5:15], labels[5:15, 15:25] = 1, 2
    border = touching_borders(labels)
    assert border[5:15, 14].all() and border[5:15, 15].all() and border.sum() == 20
    w = weight_map(labels, w0=10, sigma=5, class_weights=(1.0, 1.0))
    assert w[10, 2] < w[3, 15]  # between the two objects weighs more than far from both
    assert w[10, 10] == 1.0 and w.max() <= 11.0


def test_object_matching_counts():
    true = np.zeros((20, 20), np.int32)
    true[2:8, 2:8], true[10:16, 10:16] = 1, 2
    pred = np.zeros_like(true)
    pred[2:8, 2:9] = 1           # IoU 36/42: found
    pred[10:12, 10:12] = 2       # IoU 4/36: missed, a false positive
    pred[17:19, 17:19] = 3       # nothing there
    m = match_objects(true, pred)
    assert (m["tp"], m["fp"], m["fn"]) == (1, 2, 1) and m["mean_iou"] == pytest.approx(36 / 42)


def test_tiled_inference_has_no_seams():
    torch.manual_seed(0)
    conv = nn.Conv2d(1, 1, 3, padding=1)
    x = torch.randn(1, 1, 70, 90)
    with torch.no_grad():
        whole, tiled = conv(x), tiled_logits(conv, x, tile=32, overlap=8)
    inner = (slice(None), slice(None), slice(1, -1), slice(1, -1))
    # a 3×3 convolution differs only within one pixel of a tile's edge, which the blending weights down
    assert (whole - tiled)[inner].abs().max() < 0.15 and (whole - tiled).abs().mean() < 0.01


def test_synthetic_nuclei_are_seeded_and_touch():
    a, b = synthetic_nuclei(n=6, size=64, seed=3), synthetic_nuclei(n=6, size=64, seed=3)
    assert np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y)
    assert sum(touching_borders(y).sum() for y in a.y) > 0 and all(len(np.unique(y)) > 3 for y in a.y)


def test_unet_learns_nuclei_and_beats_chance(tmp_path):
    r = recipe_dict(data={"name": "synthetic_nuclei", "n": 40, "size": 64, "normalize": "none",
                          "val_fraction": 0.2, "test_fraction": 0.2},
                    task={"name": "segmentation", "patch": 48}, optim={"name": "adam", "lr": 3e-3},
                    train={"epochs": 8, "batch_size": 8}, report={"html": True})
    r["model"] = {"name": "unet", "depth": 2, "width": 8}
    run = trainlab.run(parse_recipe(r), runs_dir=tmp_path, progress=False)
    t = run.metrics["test"]
    assert t["dice"] > 0.7 and 0.02 <= t["threshold"] <= 0.98 and len(t["per_image"]) == 8
    assert t["objects_true"] == sum(row["true"] for row in t["per_image"]) > 0
    assert "Otsu" in (run.path / "report.html").read_text()
    # the training images as the loss sees them: the augmented patch is a piece of the image turned and
    # flipped with its mask (the same draw moves both)
    from trainlab.engine.checkpoint import load_arrays

    p = load_arrays(run.path / "pictures" / "final.npz")
    assert p["train_image"].shape == p["train_labels"].shape == p["train_weights"].shape == (3, 64, 64)
    turned = lambda a: [np.rot90(a, k)[:, ::-1] if f else np.rot90(a, k) for k in range(4) for f in (0, 1)]  # noqa: E731
    for i, (img, lab) in enumerate(zip(p["train_image"], p["train_labels"])):
        a_img, a_lab = p[f"augmented_{i}_image"], p[f"augmented_{i}_labels"]
        assert a_img.shape == a_lab.shape == (48, 48)
        assert any(np.array_equal(a_img, v[y:y + 48, x:x + 48]) and np.array_equal(a_lab, m[y:y + 48, x:x + 48])
                   for v, m in zip(turned(img), turned(lab)) for y in range(17) for x in range(17))
    assert "Training images, their objects and weights" in (run.path / "report.html").read_text()
    # trainlab predict RUN image.tif: a probability map and instance labels, at the run's threshold
    image, _ = _nuclei_pair(np.random.default_rng(2), 90, 70)
    tifffile.imwrite(tmp_path / "new.tif", image)
    from tests.cli.test_cli import cli_here

    proc = cli_here("predict", run.path, tmp_path / "new.tif", "--out", tmp_path / "pred")
    assert proc.returncode == 0, proc.stderr
    prob, labels = tifffile.imread(tmp_path / "pred" / "new_probability.tif"), tifffile.imread(tmp_path / "pred" / "new_labels.tif")
    assert prob.shape == labels.shape == (90, 70) and prob.dtype == np.float32 and 0 <= prob.min() <= prob.max() <= 1
    assert labels.max() == len(np.unique(labels)) - 1  # instance ids 0..k
    # trainlab evaluate RUN FOLDER: the generated nuclei's U-Net on images in S-BSST265's layout, at its threshold
    from trainlab.evaluate.external import evaluate_external

    ext = evaluate_external(run.path, write_sbsst265(tmp_path / "S-BSST265", n=6))
    assert ext["samples"] == 6 and ext["source"].startswith("S-BSST265")
    assert ext["metrics"]["threshold"] == t["threshold"]  # the run's, not one chosen on the external images
    assert ext["metrics"]["objects_true"] == 18 and len(ext["metrics"]["per_image"]) == 6
    f1 = next(r for r in ext["rows"] if r["metric"] == "object_f1")
    assert f1["external"] == ext["metrics"]["object_f1"] and f1["run"] == t["object_f1"]
    lo, hi = f1["external_interval"]
    assert lo <= f1["external"] <= hi and f1["test"]["p_value"] <= 1
