"""Synthetic motion blur driven by the movement of a reference landmark (the nose).

For frame ``t`` of a video with landmarks ``(T, K, 2)``, the per-frame motion of the reference
point ``p`` is the central difference ``d_t = (p_{t+1} - p_{t-1}) / 2`` (one-sided
``p_1 - p_0`` and ``p_{T-1} - p_{T-2}`` on the first and last frames). The frame is convolved
with a normalised linear kernel: a segment centred on the pixel, along ``d_t``, of length
``factor * |d_t|`` pixels, where ``factor`` is the level:

* ``medium``: 2 -- the streak of an exposure lasting two frame intervals;
* ``large``: 4 -- four frame intervals.

(A real camera's streak is at most one frame interval, factor 1; the protocols exaggerate it so
that ordinary head motion produces visible, landmark-scale blur.) Zero motion leaves the frame
unchanged. The streak is capped at ``max(H, W)`` pixels.

The reference point is the 300W/300VW point 33 (0-based; the paper's "34th landmark", under the
nose tip), looked up by name in :mod:`otmark.schemes` (:func:`blur_reference_index`), or given
explicitly with ``nose_index``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from otmark.schemes import get_scheme

#: level -> streak length / per-frame displacement of the reference point
BLUR_LEVELS: dict[str, float] = {"medium": 2.0, "large": 4.0}


def motion_kernel(dx: float, dy: float) -> np.ndarray:
    """A linear motion-blur kernel: the segment from ``-(dx, dy)/2`` to ``+(dx, dy)/2``.

    The segment is sampled every 1/4 pixel and each sample is splatted bilinearly, so the kernel
    is sub-pixel accurate and point-symmetric about its centre (correlation = convolution).

    Returns:
        ``(n, n)`` float32 kernel, ``n`` odd, summing to 1 (``(1, 1)`` ``[[1]]`` for no motion).
    """
    length = math.hypot(dx, dy)
    if not math.isfinite(length):
        raise ValueError(f"motion vector must be finite, got ({dx}, {dy})")
    if length == 0.0:
        return np.ones((1, 1), dtype=np.float32)
    c = math.ceil(length / 2) + 1
    n = 2 * c + 1
    m = max(2, math.ceil(4 * length) + 1)
    s = np.linspace(-0.5, 0.5, m)
    xs = c + s * dx
    ys = c + s * dy
    x0 = np.floor(xs).astype(np.int64)
    y0 = np.floor(ys).astype(np.int64)
    fx = xs - x0
    fy = ys - y0
    k = np.zeros((n, n), dtype=np.float64)
    for ox, oy, w in (
        (0, 0, (1 - fx) * (1 - fy)),
        (1, 0, fx * (1 - fy)),
        (0, 1, (1 - fx) * fy),
        (1, 1, fx * fy),
    ):
        np.add.at(k, (y0 + oy, x0 + ox), w)
    # symmetrise exactly (removes floating-point asymmetry), then normalise
    k = 0.5 * (k + k[::-1, ::-1])
    return (k / k.sum()).astype(np.float32)


def apply_motion(frame: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """Blur ``frame (H, W, 3) uint8`` along the streak vector ``(dx, dy)`` (its full length)."""
    frame = _check_frame(frame)
    if dx == 0 and dy == 0:
        return frame.copy()
    kernel = motion_kernel(dx, dy)
    return cv2.filter2D(frame, -1, kernel, borderType=cv2.BORDER_REPLICATE)


def _check_frame(frame: np.ndarray) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"frame must be (H, W, 3) uint8, got {frame.shape} {frame.dtype}")
    return frame


def _factor(level: str) -> float:
    if level not in BLUR_LEVELS:
        raise ValueError(f"blur level must be one of {sorted(BLUR_LEVELS)}, got {level!r}")
    return BLUR_LEVELS[level]


def streak_vector(
    ref_prev: np.ndarray, ref_next: np.ndarray, level: str, frames_apart: int, max_length: float
) -> tuple[float, float]:
    """Streak ``(dx, dy)`` = factor * (ref_next - ref_prev) / frames_apart, capped in length."""
    d = (np.asarray(ref_next, np.float64) - np.asarray(ref_prev, np.float64)) / frames_apart
    v = _factor(level) * d
    length = float(np.hypot(v[0], v[1]))
    if not math.isfinite(length):
        raise ValueError("reference landmark positions must be finite")
    if length > max_length:
        v = v * (max_length / length)
    return float(v[0]), float(v[1])


def blur_frame(
    frame: np.ndarray,
    landmarks_prev: np.ndarray,
    landmarks_next: np.ndarray,
    level: str,
    nose_index: int,
    frames_apart: int = 2,
) -> np.ndarray:
    """Blur one frame from its neighbours' landmarks.

    Args:
        frame: ``(H, W, 3)`` uint8 frame ``t``.
        landmarks_prev: ``(K, 2)`` landmarks of frame ``t-1`` (of ``t`` itself on the first
            frame, with ``frames_apart=1``).
        landmarks_next: ``(K, 2)`` landmarks of frame ``t+1`` (of ``t`` on the last frame).
        level: ``"medium"`` or ``"large"``.
        nose_index: index of the reference point in the landmarks.
        frames_apart: frames between the two landmark sets (2 central, 1 one-sided).

    Returns:
        ``(H, W, 3)`` uint8 blurred frame (a copy of ``frame`` when the reference is still).
    """
    frame = _check_frame(frame)
    lp = np.asarray(landmarks_prev, np.float64)
    ln = np.asarray(landmarks_next, np.float64)
    dx, dy = streak_vector(
        lp[nose_index], ln[nose_index], level, frames_apart, max(frame.shape[:2])
    )
    return apply_motion(frame, dx, dy)


def neighbour_indices(t: int, num_frames: int) -> tuple[int, int, int]:
    """``(prev, next, frames_apart)`` used for frame ``t`` of a ``num_frames`` sequence."""
    if num_frames < 2:
        return t, t, 1
    if t == 0:
        return 0, 1, 1
    if t == num_frames - 1:
        return t - 1, t, 1
    return t - 1, t + 1, 2


def motion_blur(
    frames: np.ndarray | Sequence[np.ndarray],
    landmarks: np.ndarray,
    level: str = "medium",
    nose_index: int | None = None,
    scheme: str | None = None,
) -> list[np.ndarray]:
    """Blur every frame of a sequence along the reference point's motion.

    Args:
        frames: ``(T, H, W, 3)`` uint8 array or a list of ``T`` such frames.
        landmarks: ``(T, K, 2)`` ground-truth landmarks of the frames.
        level: ``"medium"`` (factor 2) or ``"large"`` (factor 4).
        nose_index: reference point; if None it is looked up in ``scheme``
            (:func:`blur_reference_index`).
        scheme: landmark scheme name of ``landmarks`` (needed when ``nose_index`` is None).

    Returns:
        list of ``T`` blurred ``(H, W, 3)`` uint8 frames.
    """
    landmarks = np.asarray(landmarks, dtype=np.float64)
    if landmarks.ndim != 3 or landmarks.shape[-1] != 2 or landmarks.shape[0] != len(frames):
        raise ValueError(
            f"landmarks must be (T, K, 2) with T = {len(frames)} frames, got {landmarks.shape}"
        )
    if nose_index is None:
        if scheme is None:
            raise ValueError("motion_blur needs nose_index or scheme")
        nose_index = blur_reference_index(scheme)
    out = []
    for t, frame in enumerate(frames):
        p, n, apart = neighbour_indices(t, len(frames))
        out.append(blur_frame(frame, landmarks[p], landmarks[n], level, nose_index, apart))
    return out


def blur_reference_index(scheme: str) -> int:
    """Index of the blur reference point (the paper's 34th 300W landmark) in ``scheme``."""
    s = get_scheme(scheme)
    return s.index(BLUR_REFERENCE_POINT)


#: name (in otmark.schemes) of the point whose motion drives the blur
BLUR_REFERENCE_POINT = "nose_bottom"
