"""LandmarkDataset over real image files."""

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from otmark.datasets import ImageRef, Sample
from otmark.heatmaps import HeatmapCodec, decode_barycenter
from otmark.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    AugmentConfig,
    CropConfig,
    LandmarkDataset,
    heatmap_to_image,
    render_targets,
)

PERM = np.array([1, 0, 2])


def _samples(tmp_path: Path, n: int = 3):
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        img = np.zeros((80, 90, 3), np.uint8)
        img[:, :, 0] = 200  # red in RGB
        path = tmp_path / f"img{i}.png"
        cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        lm = np.array([[30.0, 30.0], [60.0, 30.0], [45.0, 55.0]]) + rng.uniform(-3, 3, (3, 2))
        out.append(Sample(ImageRef(path), lm, "toy", box=np.array([25, 20, 65, 62.0]), id=f"s{i}"))
    return out


def test_items_shapes_and_normalisation(tmp_path):
    # context 2: the extreme landmarks stay > 3 sigma from the heatmap border (no clipping)
    ds = LandmarkDataset(
        _samples(tmp_path), HeatmapCodec(64, 16, 1.0), crop=CropConfig(context=2.0)
    )
    item = ds[1]
    assert item["image"].shape == (3, 64, 64) and item["image"].dtype == torch.float32
    assert item["target"].shape == (3, 16, 16)
    assert item["weight"].shape == (3,) and item["inverse"].shape == (2, 3)
    assert item["index"] == 1
    torch.testing.assert_close(item["landmarks"], torch.from_numpy(ds.samples[1].landmarks))
    # the centre pixel is inside the red image: ImageNet-normalised (200/255, 0, 0)
    expected = (np.array([200 / 255, 0, 0], np.float32) - IMAGENET_MEAN) / IMAGENET_STD
    np.testing.assert_allclose(item["image"][:, 32, 32].numpy(), expected, atol=1e-5)
    # evaluation items decode back to the ground truth
    hm = decode_barycenter(item["target"][None], softmax=False)[0].double().numpy()
    back = heatmap_to_image(hm, item["inverse"].numpy(), 64, 16)
    assert np.abs(back - ds.samples[1].landmarks).max() < 0.1
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=3)))
    assert batch["inverse"].shape == (3, 2, 3) and batch["index"].tolist() == [0, 1, 2]


def test_augmentation_depends_on_seed_epoch_index_only(tmp_path):
    aug = AugmentConfig(rotation_prob=1.0, flip_prob=0.5)
    ds = LandmarkDataset(_samples(tmp_path), HeatmapCodec(64, 16, 1.0), aug, PERM, seed=3)
    a = ds[0]["inverse"]
    ds[2]
    assert torch.equal(ds[0]["inverse"], a)
    ds.set_epoch(1)
    assert not torch.equal(ds[0]["inverse"], a)
    ds.set_epoch(0)
    other = LandmarkDataset(_samples(tmp_path), HeatmapCodec(64, 16, 1.0), aug, PERM, seed=4)
    assert not torch.equal(other[0]["inverse"], a)


def test_box_crop_and_missing_file(tmp_path):
    samples = _samples(tmp_path, 1)
    ds = LandmarkDataset(samples, HeatmapCodec(64, 16, 1.0), crop=CropConfig(crop_from="box"))
    # box 40 x 42 around (45, 41) -> the crop covers 1.25 * 42 = 52.5 px: scale 64 / 52.5
    inv = ds[0]["inverse"].numpy()
    np.testing.assert_allclose(inv[:, :2], np.eye(2) * 52.5 / 64, atol=1e-12)
    np.testing.assert_allclose(inv @ [31.5, 31.5, 1], [45, 41], atol=1e-12)
    samples[0].image.path.unlink()
    with pytest.raises(FileNotFoundError, match="img0.png"):
        ds[0]
    with pytest.raises(ValueError, match="crop_from"):
        CropConfig(crop_from="face")
    with pytest.raises(TypeError, match="HeatmapCodec"):
        LandmarkDataset(samples, CropConfig())


def test_deferred_rendering_gives_the_same_targets(tmp_path):
    aug = AugmentConfig(rotation_prob=1.0, flip_prob=0.5)
    crop = HeatmapCodec(64, 16, 1.5)
    eager = LandmarkDataset(_samples(tmp_path), crop, aug, PERM, seed=1)
    lazy = LandmarkDataset(_samples(tmp_path), crop, aug, PERM, seed=1, render_targets=False)
    a, b = eager[2], lazy[2]
    assert "target" not in b and b["target_points"].shape == (3, 2)
    torch.testing.assert_close(b["target_points"], a["target_points"])
    rendered = render_targets(b["target_points"][None], b["weight"][None], 16, 1.5)[0]
    torch.testing.assert_close(rendered, a["target"])
    # the heatmap points are the crop points through (u + 0.5) / stride - 0.5, stride 4
    expected = (a["crop_landmarks"] + 0.5) / 4 - 0.5
    torch.testing.assert_close(b["target_points"].double(), expected, atol=1e-5, rtol=0)
