"""Training augmentation: random scale, rotation, horizontal flip, colour jitter, camera
effects (grayscale, low resolution, defocus blur) and crop placements like a face finder's.

Everything is drawn from an explicit :class:`numpy.random.Generator`, so a sample's augmentation
is a pure function of the generator's seed (the dataset derives it from ``(seed, epoch, index)``,
which makes runs reproducible for any number of workers and across ``--resume``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

#: luma weights of ITU-R BT.601 (the grey of :func:`color_jitter` and :func:`camera_effects`)
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges of the training augmentation (defaults: the HRNet face recipe).

    Attributes:
        scale_range: the crop scale is multiplied by ``U(lo, hi)``.
        rotation: rotation ``U(-rotation, rotation)`` degrees ...
        rotation_prob: ... applied with this probability (else 0).
        flip_prob: probability of a horizontal flip (with the scheme's flip permutation).
        color_jitter: brightness, contrast and saturation factors ``U(1 - j, 1 + j)``; 0 = off.
        grayscale_prob: probability of replacing the crop by its luma (a black-and-white photo).
        lowres_prob: probability of a low-resolution camera: the crop is shrunk by a factor
            ``U(lowres_min, 1)`` (area averaging) and enlarged back (bilinear).
        lowres_min: smallest shrink factor, in ``(0, 1]``.
        blur_prob: probability of a defocus blur (Gaussian) ...
        blur_max_sigma: ... of standard deviation ``U(0.5, blur_max_sigma)`` input pixels.
        shift_prob: probability of moving the crop's centre as a face finder's box does ...
        shift_sd: ... by normal offsets of standard deviation ``(x, y)`` ...
        shift_mean_y: ... around ``(0, shift_mean_y)``, in units of the crop's side (``200 *
            scale``, context included, before the scale factor), each cut at 2.5 standard
            deviations. Measured on dlib's boxes (``benchmarks/real_faces_errors.py``,
            docs/real_faces.md): sd 0.07 / 0.04 and mean 0.026 downwards; the finder's scale and
            roll spread (log-sd 0.09, sd 9 degrees) lie within ``scale_range`` and ``rotation``.

    The camera effects and the crop shift are off by default (the HRNet recipe); photographs
    need them when the training faces are generated (docs/real_faces.md).
    """

    scale_range: tuple[float, float] = (0.75, 1.25)
    rotation: float = 30.0
    rotation_prob: float = 0.6
    flip_prob: float = 0.5
    color_jitter: float = 0.0
    grayscale_prob: float = 0.0
    lowres_prob: float = 0.0
    lowres_min: float = 0.35
    blur_prob: float = 0.0
    blur_max_sigma: float = 2.0
    shift_prob: float = 0.0
    shift_sd: tuple[float, float] = (0.0, 0.0)
    shift_mean_y: float = 0.0

    def __post_init__(self) -> None:
        lo, hi = self.scale_range
        if not 0 < lo <= hi:
            raise ValueError(f"scale_range must satisfy 0 < lo <= hi, got {self.scale_range}")
        if not 0 < self.lowres_min <= 1:
            raise ValueError(f"lowres_min must be in (0, 1], got {self.lowres_min}")
        if not self.blur_max_sigma >= 0.5:
            raise ValueError(f"blur_max_sigma must be >= 0.5, got {self.blur_max_sigma}")
        sd = tuple(self.shift_sd)
        if len(sd) != 2 or not all(np.isfinite(v) and 0 <= v <= 0.5 for v in sd):
            raise ValueError(f"shift_sd must be two numbers (x, y) in [0, 0.5], got {sd}")
        if not (np.isfinite(self.shift_mean_y) and abs(self.shift_mean_y) <= 0.5):
            raise ValueError(f"shift_mean_y must be in [-0.5, 0.5], got {self.shift_mean_y}")
        probs = ("rotation_prob", "flip_prob", "grayscale_prob", "lowres_prob", "blur_prob")
        for name in (*probs, "shift_prob"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {v}")
        if self.rotation < 0 or not 0 <= self.color_jitter < 1:
            raise ValueError("rotation must be >= 0 and color_jitter in [0, 1)")


@dataclass(frozen=True)
class AugmentParams:
    """One drawn augmentation: ``scale_factor`` (x crop scale), ``rotation`` (degrees),
    ``flip``, the three colour factors (1.0 = unchanged) and the camera effects: ``grayscale``,
    ``lowres`` (shrink factor, 1.0 = off), ``blur_sigma`` (input pixels, 0.0 = off) and
    ``shift`` (the crop centre's offset ``(x, y)`` in crop sides, image axes)."""

    scale_factor: float = 1.0
    rotation: float = 0.0
    flip: bool = False
    brightness: float = 1.0
    contrast: float = 1.0
    saturation: float = 1.0
    grayscale: bool = False
    lowres: float = 1.0
    blur_sigma: float = 0.0
    shift: tuple[float, float] = (0.0, 0.0)


def sample_augmentation(rng: np.random.Generator, cfg: AugmentConfig) -> AugmentParams:
    """Draw one :class:`AugmentParams` from ``rng`` (the same number of draws for a given
    ``cfg``: seven, plus five when a camera effect is enabled, plus three when the crop shift is,
    so configs without them draw exactly what they drew before those existed)."""
    u = rng.random(7)
    lo, hi = cfg.scale_range
    scale = lo + (hi - lo) * u[0]
    rotation = (2.0 * u[1] - 1.0) * cfg.rotation if u[2] < cfg.rotation_prob else 0.0
    flip = bool(u[3] < cfg.flip_prob)
    j = cfg.color_jitter
    b, c, s = (1.0 + j * (2.0 * v - 1.0) for v in u[4:7])
    params = AugmentParams(float(scale), float(rotation), flip, float(b), float(c), float(s))
    if not cfg.grayscale_prob == cfg.lowres_prob == cfg.blur_prob == 0.0:
        v = rng.random(5)
        lowres = cfg.lowres_min + (1.0 - cfg.lowres_min) * v[2] if v[1] < cfg.lowres_prob else 1.0
        sigma = 0.5 + (cfg.blur_max_sigma - 0.5) * v[4] if v[3] < cfg.blur_prob else 0.0
        params = replace(
            params,
            grayscale=bool(v[0] < cfg.grayscale_prob),
            lowres=float(lowres),
            blur_sigma=float(sigma),
        )
    if cfg.shift_prob > 0.0:
        u_shift = rng.random()
        z = np.clip(rng.standard_normal(2), -2.5, 2.5)
        if u_shift < cfg.shift_prob:
            sx, sy = cfg.shift_sd
            params = replace(params, shift=(float(sx * z[0]), float(cfg.shift_mean_y + sy * z[1])))
    return params


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
    grey = img @ LUMA
    img = (img - grey.mean()) * params.contrast + grey.mean()
    grey = (img @ LUMA)[..., None]
    img = (img - grey) * params.saturation + grey
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def camera_effects(image: np.ndarray, params: AugmentParams) -> np.ndarray:
    """Apply the camera effects of ``params``: low resolution (shrink by ``params.lowres`` with
    area averaging, enlarge back bilinearly), then defocus blur (Gaussian, ``blur_sigma``
    pixels), then grayscale (the luma in all three channels).

    Args:
        image: ``(H, W, 3)`` uint8 RGB.

    Returns:
        ``(H, W, 3)`` uint8 (the same object when no effect is drawn).
    """
    out = image
    h, w = image.shape[:2]
    if params.lowres < 1.0:
        small = (max(1, round(w * params.lowres)), max(1, round(h * params.lowres)))
        out = cv2.resize(out, small, interpolation=cv2.INTER_AREA)
        out = cv2.resize(out, (w, h), interpolation=cv2.INTER_LINEAR)
    if params.blur_sigma > 0.0:
        out = cv2.GaussianBlur(out, (0, 0), sigmaX=params.blur_sigma, sigmaY=params.blur_sigma)
    if params.grayscale:
        grey = np.clip(np.rint(out.astype(np.float32) @ LUMA), 0, 255).astype(np.uint8)
        out = np.repeat(grey[..., None], 3, axis=2)
    return out
