"""Training augmentation: random scale, rotation, horizontal flip and colour jitter.

Everything is drawn from an explicit :class:`numpy.random.Generator`, so a sample's augmentation
is a pure function of the generator's seed (the dataset derives it from ``(seed, epoch, index)``,
which makes runs reproducible for any number of workers and across ``--resume``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges of the training augmentation (defaults: the HRNet face recipe).

    Attributes:
        scale_range: the crop scale is multiplied by ``U(lo, hi)``.
        rotation: rotation ``U(-rotation, rotation)`` degrees ...
        rotation_prob: ... applied with this probability (else 0).
        flip_prob: probability of a horizontal flip (with the scheme's flip permutation).
        color_jitter: brightness, contrast and saturation factors ``U(1 - j, 1 + j)``; 0 = off.
    """

    scale_range: tuple[float, float] = (0.75, 1.25)
    rotation: float = 30.0
    rotation_prob: float = 0.6
    flip_prob: float = 0.5
    color_jitter: float = 0.0

    def __post_init__(self) -> None:
        lo, hi = self.scale_range
        if not 0 < lo <= hi:
            raise ValueError(f"scale_range must satisfy 0 < lo <= hi, got {self.scale_range}")
        for name in ("rotation_prob", "flip_prob"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {v}")
        if self.rotation < 0 or not 0 <= self.color_jitter < 1:
            raise ValueError("rotation must be >= 0 and color_jitter in [0, 1)")


@dataclass(frozen=True)
class AugmentParams:
    """One drawn augmentation: ``scale_factor`` (x crop scale), ``rotation`` (degrees),
    ``flip`` and the three colour factors (1.0 = unchanged)."""

    scale_factor: float = 1.0
    rotation: float = 0.0
    flip: bool = False
    brightness: float = 1.0
    contrast: float = 1.0
    saturation: float = 1.0


def sample_augmentation(rng: np.random.Generator, cfg: AugmentConfig) -> AugmentParams:
    """Draw one :class:`AugmentParams` from ``rng`` (always the same number of draws)."""
    u = rng.random(7)
    lo, hi = cfg.scale_range
    scale = lo + (hi - lo) * u[0]
    rotation = (2.0 * u[1] - 1.0) * cfg.rotation if u[2] < cfg.rotation_prob else 0.0
    flip = bool(u[3] < cfg.flip_prob)
    j = cfg.color_jitter
    b, c, s = (1.0 + j * (2.0 * v - 1.0) for v in u[4:7])
    return AugmentParams(float(scale), float(rotation), flip, float(b), float(c), float(s))


def color_jitter(image: np.ndarray, params: AugmentParams) -> np.ndarray:
    """Apply brightness, contrast and saturation factors to an RGB image.

    Args:
        image: ``(H, W, 3)`` uint8 RGB.

    Returns:
        ``(H, W, 3)`` uint8 (unchanged object when all factors are 1).
    """
    if params.brightness == params.contrast == params.saturation == 1.0:
        return image
    img = image.astype(np.float32) * params.brightness
    grey = img @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    img = (img - grey.mean()) * params.contrast + grey.mean()
    grey = (img @ np.array([0.299, 0.587, 0.114], dtype=np.float32))[..., None]
    img = (img - grey) * params.saturation + grey
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)
