"""Whole-image camera effects: exposure, colour cast, sensor noise, blur and JPEG artefacts."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Effects:
    """Camera effects applied after drawing (all off by default).

    Attributes:
        gain: exposure multiplier; gamma: output gamma; cast: per-channel RGB multiplier.
        noise: Gaussian sensor noise std in grey levels.
        blur: Gaussian blur sigma in pixels.
        motion: ``(dx, dy)`` linear motion-blur extent in pixels.
        jpeg: JPEG quality (0 = no JPEG round trip).
    """

    gain: float = 1.0
    gamma: float = 1.0
    cast: tuple[float, float, float] = (1.0, 1.0, 1.0)
    noise: float = 0.0
    blur: float = 0.0
    motion: tuple[float, float] = (0.0, 0.0)
    jpeg: int = 0


def motion_kernel(dx: float, dy: float) -> np.ndarray:
    """Normalised line kernel ``(n, n)`` float32 for a motion of ``(dx, dy)`` pixels."""
    length = float(np.hypot(dx, dy))
    n = int(np.ceil(length)) | 1
    k = np.zeros((n, n), np.float32)
    c = (n - 1) / 2
    if length < 1e-6:
        k[int(c), int(c)] = 1.0
        return k
    for s in np.linspace(-0.5, 0.5, 2 * n + 1):
        x, y = c + s * dx, c + s * dy
        k[int(round(y)), int(round(x))] += 1.0
    return k / k.sum()


_BANK_MARGIN = 64


@functools.lru_cache(maxsize=4)
def _noise_bank(h: int, w: int) -> np.ndarray:
    """A fixed ``(h + 64, w + 64, 3)`` float32 bank of unit Gaussian noise (seeded once).

    Sensor noise is a random crop (and flip) of it, scaled by ``Effects.noise``: much cheaper
    than drawing fresh per-pixel noise, and as deterministic (the crop comes from the rng).
    """
    g = np.random.default_rng(20240229).standard_normal(
        (h + _BANK_MARGIN, w + _BANK_MARGIN, 3), dtype=np.float32
    )
    g.setflags(write=False)
    return g


def apply_effects(img: np.ndarray, fx: Effects, rng: np.random.Generator) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB -> the same with ``fx`` applied (a new array)."""
    out = img
    if fx.gain != 1.0 or fx.gamma != 1.0 or fx.cast != (1.0, 1.0, 1.0):
        lut = np.arange(256, dtype=np.float32)[:, None] / 255.0
        v = np.clip(lut * fx.gain * np.asarray(fx.cast, np.float32)[None], 0, 1) ** fx.gamma
        table = np.clip(v * 255 + 0.5, 0, 255).astype(np.uint8).reshape(1, 256, 3)
        out = cv2.LUT(out, table)
    if fx.motion != (0.0, 0.0) and np.hypot(*fx.motion) >= 1.0:
        out = cv2.filter2D(out, -1, motion_kernel(*fx.motion), borderType=cv2.BORDER_REFLECT)
    if fx.blur > 0.3:
        out = cv2.GaussianBlur(out, (0, 0), fx.blur)
    if fx.noise > 0:
        h, w = out.shape[:2]
        bank = _noise_bank(h, w)
        oy, ox = (int(v) for v in rng.integers(0, _BANK_MARGIN, size=2))
        crop = bank[oy : oy + h, ox : ox + w]
        if rng.random() < 0.5:
            crop = crop[::-1]
        noisy = cv2.scaleAdd(crop, float(fx.noise), out.astype(np.float32))
        out = np.clip(noisy, 0, 255).astype(np.uint8)
    if fx.jpeg > 0:
        bgr = cv2.cvtColor(out, cv2.COLOR_RGB2BGR)
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(fx.jpeg)])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        out = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return out if out is not img else img.copy()
