"""Whole-image camera effects: exposure, colour cast, sensor noise, blur and JPEG artefacts."""

from __future__ import annotations

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


def apply_effects(img: np.ndarray, fx: Effects, rng: np.random.Generator) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB -> the same with ``fx`` applied (a new array)."""
    out = img
    if fx.gain != 1.0 or fx.gamma != 1.0 or fx.cast != (1.0, 1.0, 1.0):
        lut = np.arange(256, dtype=np.float32) / 255.0
        chans = []
        for c in range(3):
            v = np.clip(lut * fx.gain * fx.cast[c], 0, 1) ** fx.gamma
            chans.append(np.clip(v * 255 + 0.5, 0, 255).astype(np.uint8))
        out = np.dstack([cv2.LUT(out[..., c], chans[c]) for c in range(3)])
    if fx.motion != (0.0, 0.0) and np.hypot(*fx.motion) >= 1.0:
        out = cv2.filter2D(out, -1, motion_kernel(*fx.motion), borderType=cv2.BORDER_REFLECT)
    if fx.blur > 0.3:
        out = cv2.GaussianBlur(out, (0, 0), fx.blur)
    if fx.noise > 0:
        n = rng.standard_normal(out.shape, dtype=np.float32) * fx.noise
        out = np.clip(out.astype(np.float32) + n, 0, 255).astype(np.uint8)
    if fx.jpeg > 0:
        ok, buf = cv2.imencode(".jpg", out[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(fx.jpeg)])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        out = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]
    return np.ascontiguousarray(out)
