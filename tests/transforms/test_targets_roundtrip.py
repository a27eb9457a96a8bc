"""crop -> target heatmap -> decode -> inverse transform returns the original landmarks."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from otmark.heatmaps import HeatmapCodec, decode_barycenter
from otmark.transforms import (
    AugmentConfig,
    centre_scale_from_landmarks,
    heatmap_to_image,
    landmark_weights,
    make_targets,
    prepare_sample,
    sample_augmentation,
    unflip_landmarks,
)

# an involution over 7 slots (pairs 0-1, 2-4, 5-6 and 3 on the axis)
PERM = np.array([1, 0, 4, 3, 2, 6, 5])


def _face(rng):
    """7 landmarks well inside a circle, plus 4 anchors on it that fix the crop box."""
    c = rng.uniform(150, 250, 2)
    r = rng.uniform(40, 90)
    ang = rng.uniform(0, 2 * np.pi, 7)
    rad = r * 0.6 * np.sqrt(rng.uniform(0, 1, 7))
    inner = c + np.stack([rad * np.cos(ang), rad * np.sin(ang)], 1)
    anchors = c + r * np.array([[1, 0], [0, 1], [-1, 0], [0, -1]])
    return inner, anchors


@pytest.mark.parametrize("seed", range(12))
def test_round_trip_under_random_augmentation(seed):
    rng = np.random.default_rng(seed)
    inner, anchors = _face(rng)
    centre, scale = centre_scale_from_landmarks(np.vstack([inner, anchors]))
    crop = HeatmapCodec(input_size=256, heatmap_size=64, sigma=1.5)
    params = sample_augmentation(rng, AugmentConfig(rotation_prob=1.0, flip_prob=0.5))
    image = np.zeros((400, 400, 3), np.uint8)
    item = prepare_sample(image, inner, centre, scale, crop, params, PERM)
    assert item["target"].shape == (7, 64, 64)
    assert bool(item["flip"]) == params.flip
    torch.testing.assert_close(item["weight"], torch.ones(7))
    hm = decode_barycenter(item["target"][None], softmax=False)[0].double().numpy()
    back = heatmap_to_image(hm, item["inverse"].numpy(), 256, 64)
    if params.flip:
        back = unflip_landmarks(back, PERM)
    assert np.abs(back - inner).max() < 0.1


def test_round_trip_flip_forced_and_non_square_stride():
    rng = np.random.default_rng(99)
    inner, anchors = _face(rng)
    centre, scale = centre_scale_from_landmarks(np.vstack([inner, anchors]))
    crop = HeatmapCodec(input_size=96, heatmap_size=40, sigma=1.0)  # stride 2.4
    params = sample_augmentation(
        rng, AugmentConfig(scale_range=(1.1, 1.1), rotation_prob=1.0, flip_prob=1.0)
    )
    assert params.flip
    item = prepare_sample(
        np.zeros((400, 400, 3), np.uint8), inner, centre, scale, crop, params, PERM
    )
    # slot k of the flipped crop holds the mirror of original landmark PERM[k]
    hm = decode_barycenter(item["target"][None], softmax=False)[0].double().numpy()
    back = heatmap_to_image(hm, item["inverse"].numpy(), 96, 40)
    np.testing.assert_allclose(back[PERM], inner, atol=0.1)
    # mirror image of the un-flipped crop: x -> (N - 1) - x, y unchanged, slots permuted
    plain = prepare_sample(
        np.zeros((400, 400, 3), np.uint8),
        inner,
        centre,
        scale,
        crop,
        replace(params, flip=False),
        PERM,
    )["crop_landmarks"].numpy()
    flipped = item["crop_landmarks"].numpy()
    np.testing.assert_allclose(flipped[:, 0], 95 - plain[PERM, 0], atol=1e-9)
    np.testing.assert_allclose(flipped[:, 1], plain[PERM, 1], atol=1e-9)


def test_weights_zero_outside_heatmap_and_for_nan():
    pts = np.array([[-0.5, 3.0], [-0.6, 3.0], [15.5, 15.5], [15.6, 0.0], [np.nan, 1.0]])
    np.testing.assert_array_equal(landmark_weights(pts, 16), [1, 0, 1, 0, 0])
    crop_pts = np.array([[32.0, 32.0], [-40.0, 10.0], [np.nan, np.nan]])
    maps, weights, hm = make_targets(crop_pts, 64, 16, 1.0)
    np.testing.assert_array_equal(weights.numpy(), [1, 0, 0])
    assert maps[1].abs().sum() == 0 and maps[2].abs().sum() == 0
    # crop 32 -> heatmap (32 + 0.5) / 4 - 0.5 = 7.625; the Gaussian peak value there
    np.testing.assert_allclose(hm[0], [7.625, 7.625])
    expected = np.exp(-(0.375**2 * 2) / 2)  # nearest pixel centre (8, 8)
    assert float(maps[0, 8, 8]) == pytest.approx(expected, rel=1e-5)
