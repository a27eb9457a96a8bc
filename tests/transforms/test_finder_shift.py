"""Training crops placed like a face finder's boxes (``AugmentConfig.shift_*``)."""

import numpy as np
import pytest

from otmark.engine.config import ConfigError, ExperimentConfig, augment_config, load_config
from otmark.heatmaps import HeatmapCodec
from otmark.transforms import AugmentConfig, AugmentParams, sample_augmentation
from otmark.transforms.dataset import prepare_sample

CODEC = HeatmapCodec(input_size=64, heatmap_size=16, sigma=1.0)


def test_shift_draws_follow_the_configured_distribution():
    cfg = AugmentConfig(shift_prob=0.7, shift_sd=(0.07, 0.04), shift_mean_y=0.026)
    rng = np.random.default_rng(0)
    shifts = np.array([sample_augmentation(rng, cfg).shift for _ in range(6000)])
    on = np.any(shifts != 0, axis=1)
    assert abs(on.mean() - 0.7) < 0.02
    s = shifts[on]
    assert abs(s[:, 0].mean()) < 0.004 and abs(s[:, 1].mean() - 0.026) < 0.003
    # a normal cut at 2.5 sd keeps 98.8 % of its mass and about 0.95 of its sd
    assert 0.062 < s[:, 0].std() < 0.070 and 0.035 < s[:, 1].std() < 0.040
    assert np.abs(s[:, 0]).max() <= 2.5 * 0.07 + 1e-12
    assert np.abs(s[:, 1] - 0.026).max() <= 2.5 * 0.04 + 1e-12


def test_without_shift_the_draws_are_unchanged():
    """Configs without the shift draw exactly the numbers they drew before it existed."""
    base = AugmentConfig(color_jitter=0.3, blur_prob=0.2)
    shifted = AugmentConfig(color_jitter=0.3, blur_prob=0.2, shift_prob=1.0, shift_sd=(0.1, 0.1))
    a = sample_augmentation(np.random.default_rng(5), base)
    b = sample_augmentation(np.random.default_rng(5), shifted)
    assert a.shift == (0.0, 0.0) and b.shift != (0.0, 0.0)
    assert a == AugmentParams(**{**b.__dict__, "shift": (0.0, 0.0)})


def test_shifted_crop_moves_image_and_targets_together():
    """A crop shifted by (dx, dy) crop sides shows the face moved by -(dx, dy) * N pixels, and
    the target points move with it."""
    img = np.zeros((200, 200, 3), np.uint8)
    img[95:105, 95:105] = 255  # a bright square centred on (99.5, 99.5)
    pts = np.array([[99.5, 99.5], [60.0, 140.0]])
    centre, scale = np.array([99.5, 99.5]), 100.0 / 200.0  # a 100-px crop -> 64 px
    plain = prepare_sample(img, pts, centre, scale, CODEC, AugmentParams())
    dx, dy = 0.125, -0.0625  # 12.5 and -6.25 image px = 8 and -4 crop px
    moved = prepare_sample(img, pts, centre, scale, CODEC, AugmentParams(shift=(dx, dy)))
    np.testing.assert_allclose(
        moved["crop_landmarks"].numpy(),
        plain["crop_landmarks"].numpy() - np.array([8.0, -4.0]),
        atol=1e-9,
    )
    # the bright square moved by the same 8 px left and 4 px down in the crop
    a, b = plain["image"][0].numpy(), moved["image"][0].numpy()
    np.testing.assert_allclose(b[4 + 20 : 4 + 40, 20 - 8 : 40 - 8], a[20:40, 20:40], atol=1e-5)
    # the inverse map still takes crop points back to the image
    inv = moved["inverse"].numpy()
    back = moved["crop_landmarks"].numpy() @ inv[:, :2].T + inv[:, 2]
    np.testing.assert_allclose(back, pts, atol=1e-9)


def test_config_keys_reach_the_augmentation(tmp_path):
    cfg = ExperimentConfig()
    cfg.augment.shift_prob, cfg.augment.shift_sd, cfg.augment.shift_mean_y = 0.5, [0.07, 0.04], 0.03
    aug = augment_config(cfg)
    assert (aug.shift_prob, aug.shift_sd, aug.shift_mean_y) == (0.5, (0.07, 0.04), 0.03)
    bad = tmp_path / "bad.yaml"
    bad.write_text("base: null\naugment:\n  shift_sd: [0.07, -0.1]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.yaml.*augment.*shift_sd"):
        load_config(bad, check_paths=False)


@pytest.mark.parametrize(
    "kwargs, key",
    [
        ({"shift_prob": 1.5}, "shift_prob"),
        ({"shift_sd": (0.1,)}, "shift_sd"),
        ({"shift_sd": (0.1, float("nan"))}, "shift_sd"),
        ({"shift_mean_y": 0.9}, "shift_mean_y"),
    ],
)
def test_invalid_shift(kwargs, key):
    with pytest.raises(ValueError, match=key):
        AugmentConfig(**kwargs)
