"""Augmentation draws and colour jitter."""

import numpy as np
import pytest

from otmark.transforms import AugmentConfig, AugmentParams, color_jitter, sample_augmentation


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
