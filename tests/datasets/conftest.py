"""Tiny synthetic samples for the dataset reader/writer tests (generated, never downloaded)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from otmark.datasets import ImageRef, Sample
from otmark.schemes import get_scheme


def make_faces(scheme: str, n: int, seed: int = 0, size=(24, 32), grey: bool = False):
    """``n`` (sample, image) pairs: random landmarks inside a random ``size`` image.

    Landmarks have many decimals so that round trips test the number formatting too.
    """
    rng = np.random.default_rng(seed)
    k = get_scheme(scheme).num_points
    h, w = size
    samples, images = [], []
    for i in range(n):
        lm = np.stack([rng.uniform(2, w - 3, k), rng.uniform(2, h - 3, k)], axis=1)
        images.append(_smooth_image(rng, h, w, grey))
        samples.append(Sample(ImageRef(Path(f"unused_{i}.png")), lm, scheme, id=f"face_{i:03d}"))
    return samples, images


def _smooth_image(rng, h: int, w: int, grey: bool) -> np.ndarray:
    """A smooth random colour ramp plus mild noise: distinct per sample, JPEG-friendly."""
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    channels = 1 if grey else 3
    a, b, c = rng.uniform(0, 120, (3, channels))
    img = a + 120 * xx[..., None] * b / 120 + 100 * yy[..., None] * c / 120
    img = img + rng.normal(0, 2, img.shape)
    img = np.clip(img, 0, 255).astype(np.uint8)
    return img[..., 0] if grey else img


@pytest.fixture
def faces():
    return make_faces
