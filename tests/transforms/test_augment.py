"""Augmentation draws, colour jitter and camera effects."""

import math

import numpy as np
import pytest

from otmark.transforms import (
    AugmentConfig,
    AugmentParams,
    camera_effects,
    color_jitter,
    sample_augmentation,
)


def test_draws_follow_the_configured_distributions():
    cfg = AugmentConfig()
    rng = np.random.default_rng(0)
    draws = [sample_augmentation(rng, cfg) for _ in range(4000)]
    scales = np.array([d.scale_factor for d in draws])
    rots = np.array([d.rotation for d in draws])
    flips = np.array([d.flip for d in draws])
    assert scales.min() >= 0.75 and scales.max() <= 1.25
    assert abs(scales.mean() - 1.0) < 0.01
    assert np.abs(rots).max() <= 30
    assert abs((rots != 0).mean() - 0.6) < 0.03
    assert abs(flips.mean() - 0.5) < 0.03
    assert all(d.brightness == d.contrast == d.saturation == 1.0 for d in draws)


def test_draws_are_reproducible_from_the_generator():
    cfg = AugmentConfig(color_jitter=0.3)
    a = [sample_augmentation(np.random.default_rng([1, 2, i]), cfg) for i in range(5)]
    b = [sample_augmentation(np.random.default_rng([1, 2, i]), cfg) for i in range(5)]
    c = [sample_augmentation(np.random.default_rng([1, 3, i]), cfg) for i in range(5)]
    assert a == b and a != c


def test_color_jitter_by_hand():
    img = np.full((2, 2, 3), 100, np.uint8)
    assert color_jitter(img, AugmentParams()) is img
    np.testing.assert_array_equal(color_jitter(img, AugmentParams(brightness=1.5)), 150)
    np.testing.assert_array_equal(color_jitter(img, AugmentParams(brightness=3.0)), 255)
    # contrast around the mean grey: a uniform image is unchanged
    np.testing.assert_array_equal(color_jitter(img, AugmentParams(contrast=0.5)), 100)
    col = np.array([[[200, 100, 0]]], np.uint8)
    grey = 0.299 * 200 + 0.587 * 100
    np.testing.assert_array_equal(
        color_jitter(col, AugmentParams(saturation=0.0)), np.full((1, 1, 3), round(grey))
    )


def test_invalid_config():
    with pytest.raises(ValueError, match="scale_range"):
        AugmentConfig(scale_range=(1.2, 0.8))
    with pytest.raises(ValueError, match="flip_prob"):
        AugmentConfig(flip_prob=1.5)
    with pytest.raises(ValueError, match="blur_prob"):
        AugmentConfig(blur_prob=-0.1)
    with pytest.raises(ValueError, match="lowres_min"):
        AugmentConfig(lowres_min=0.0)
    with pytest.raises(ValueError, match="blur_max_sigma"):
        AugmentConfig(blur_max_sigma=0.2)


def test_camera_effects_leave_the_geometric_draws_unchanged():
    """Enabling camera effects appends draws: scale, rotation, flip and colour stay those of the
    same seed without them (so configs without camera effects reproduce older runs)."""
    plain = AugmentConfig(color_jitter=0.3)
    camera = AugmentConfig(color_jitter=0.3, grayscale_prob=0.5, lowres_prob=0.5, blur_prob=0.5)
    for i in range(20):
        a = sample_augmentation(np.random.default_rng([7, i]), plain)
        b = sample_augmentation(np.random.default_rng([7, i]), camera)
        assert (a.scale_factor, a.rotation, a.flip, a.brightness) == (
            b.scale_factor,
            b.rotation,
            b.flip,
            b.brightness,
        )
        assert (a.grayscale, a.lowres, a.blur_sigma) == (False, 1.0, 0.0)


def test_camera_draws_follow_the_configured_distributions():
    cfg = AugmentConfig(
        grayscale_prob=0.2, lowres_prob=0.3, lowres_min=0.4, blur_prob=0.1, blur_max_sigma=3.0
    )
    rng = np.random.default_rng(0)
    draws = [sample_augmentation(rng, cfg) for _ in range(4000)]
    grey = np.array([d.grayscale for d in draws])
    lowres = np.array([d.lowres for d in draws])
    sigma = np.array([d.blur_sigma for d in draws])
    assert abs(grey.mean() - 0.2) < 0.02
    assert abs((lowres < 1).mean() - 0.3) < 0.025
    assert lowres.min() >= 0.4 and lowres.max() <= 1.0
    assert abs((sigma > 0).mean() - 0.1) < 0.015
    on = sigma[sigma > 0]
    assert on.min() >= 0.5 and on.max() <= 3.0 and abs(on.mean() - 1.75) < 0.1


def test_camera_effects_by_hand():
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)
    assert camera_effects(img, AugmentParams()) is img
    # grayscale: BT.601 luma in every channel
    grey = camera_effects(img, AugmentParams(grayscale=True))
    luma = np.rint(img.astype(np.float64) @ [0.299, 0.587, 0.114])
    for c in range(3):
        np.testing.assert_allclose(grey[..., c], luma, atol=1)
    # low resolution 0.5 of a 2x2-block image: area averaging keeps each block, so the
    # shrunk image holds the block means and the enlarged one varies smoothly between them
    blocks = np.kron(rng.integers(0, 256, (16, 24, 3)), np.ones((2, 2, 1))).astype(np.uint8)
    low = camera_effects(blocks, AugmentParams(lowres=0.5))
    assert low.shape == blocks.shape
    assert np.abs(low.astype(int) - blocks.astype(int)).mean() < 40
    assert (
        np.abs(np.diff(low.astype(int), axis=1)).mean()
        < np.abs(np.diff(blocks.astype(int), axis=1)).mean()
    )
    # defocus: a step edge becomes the Gaussian's cumulative distribution of the drawn sigma
    step = np.zeros((8, 64, 3), np.uint8)
    step[:, 32:] = 255
    profile = camera_effects(step, AugmentParams(blur_sigma=2.0))[4, :, 0].astype(np.float64)
    x = (np.arange(64) - 31.5) / 2.0
    expected = 255 * 0.5 * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))
    np.testing.assert_allclose(profile, expected, atol=2.0)
