"""The 200-px centre/scale crop and its affine maps (image <-> crop <-> heatmap).

Conventions (the whole project, see ``docs/architecture.md``): points are ``(x, y)`` floats with
**pixel centres at integers**; an image of width ``W`` covers ``[-0.5, W - 0.5]``. A face is
described by a ``centre (2,)`` and a ``scale`` such that the crop covers a square of side
``200 * scale`` image pixels (HRNet's convention; the ``x 1.25`` context factor is applied by
:func:`centre_scale_from_box` / :func:`centre_scale_from_landmarks`).

The crop of side ``N`` (``input_size``) maps that square onto ``[-0.5, N - 0.5]^2``, so that the
image point ``centre`` lands on the crop's centre ``((N - 1) / 2, (N - 1) / 2)``::

    u = s * R(rotation) (x - centre) + (N - 1) / 2,    s = N / (200 * scale)

then, if ``flip``, ``u_x -> (N - 1) - u_x``. ``R(r)`` turns the face counter-clockwise on screen
(y axis pointing down) by ``r`` degrees. Because pixel centres sit at integers in both images,
``cv2.warpAffine`` with the same 2x3 matrix samples exactly where :func:`apply_affine` maps points.

Heatmaps of size ``M`` have stride ``N / M``: heatmap coordinate ``h`` corresponds to crop
coordinate ``(h + 0.5) * stride - 0.5`` (both maps cover the same square; see
:func:`heatmap_to_crop_matrix`).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

# the heatmap <-> crop maps belong to the codec; re-exported here with the other affine maps
from otmark.heatmaps.codec import crop_to_heatmap_matrix, heatmap_to_crop_matrix  # noqa: F401

#: HRNet's context factor applied to every face box (``docs/conventions.md`` §2); the one
#: source of the crop context (datasets, training crops, the detector)
CONTEXT = 1.25
#: pixels per unit of ``scale``
SCALE_UNIT = 200.0


def centre_scale_from_box(box, context: float = CONTEXT) -> tuple[np.ndarray, float]:
    """Centre and scale of a face box ``x0, y0, x1, y1`` (image coordinates).

    ``centre`` is the box centre; ``scale = context * max(x1 - x0, y1 - y0) / 200``.

    Returns:
        ``centre: (2,)`` float64 and ``scale`` (float).
    """
    b = np.asarray(box, dtype=np.float64).reshape(-1)
    if b.shape != (4,) or not np.all(np.isfinite(b)):
        raise ValueError(f"box must be 4 finite numbers x0, y0, x1, y1, got {box!r}")
    x0, y0, x1, y1 = b
    side = max(x1 - x0, y1 - y0)
    if side <= 0:
        raise ValueError(f"box {b.tolist()} is empty (x1 <= x0 and y1 <= y0)")
    return np.array([(x0 + x1) / 2.0, (y0 + y1) / 2.0]), float(context * side / SCALE_UNIT)


def tight_box(landmarks) -> np.ndarray:
    """HRNet's integer-aligned tight box around the finite landmarks.

    Args:
        landmarks: ``(K, 2)``; rows with NaN are ignored.

    Returns:
        ``(4,)`` = ``floor(xmin), floor(ymin), ceil(xmax), ceil(ymax)``.
    """
    pts = np.asarray(landmarks, dtype=np.float64).reshape(-1, 2)
    pts = pts[np.isfinite(pts).all(axis=1)]
    if len(pts) == 0:
        raise ValueError("no finite landmark to build a box from")
    lo = np.floor(pts.min(axis=0))
    hi = np.ceil(pts.max(axis=0))
    return np.array([lo[0], lo[1], hi[0], hi[1]])


def centre_scale_from_landmarks(landmarks, context: float = CONTEXT) -> tuple[np.ndarray, float]:
    """Centre and scale from the landmarks' tight box (``docs/conventions.md`` §2).

    ``centre = ((floor(xmin) + ceil(xmax)) / 2, (floor(ymin) + ceil(ymax)) / 2)``,
    ``scale = context * max(ceil(xmax) - floor(xmin), ceil(ymax) - floor(ymin)) / 200``.

    Args:
        landmarks: ``(K, 2)``; NaN rows are ignored.
    """
    return centre_scale_from_box(tight_box(landmarks), context=context)


def crop_matrix(
    centre,
    scale: float,
    input_size: int,
    rotation: float = 0.0,
    flip: bool = False,
) -> np.ndarray:
    """The 2x3 affine matrix image -> crop (see the module docstring for the formula).

    Args:
        centre: ``(2,)`` image point that lands on the crop centre.
        scale: the crop covers ``200 * scale`` image pixels (context already included).
        input_size: crop side ``N`` in pixels.
        rotation: degrees, counter-clockwise on screen.
        flip: mirror the crop horizontally (about its vertical centre line).

    Returns:
        ``(2, 3)`` float64.
    """
    if scale <= 0 or not math.isfinite(scale):
        raise ValueError(f"scale must be finite and > 0, got {scale}")
    if input_size <= 0:
        raise ValueError(f"input_size must be > 0, got {input_size}")
    cx, cy = (float(v) for v in np.asarray(centre, dtype=np.float64).reshape(2))
    s = input_size / (SCALE_UNIT * scale)
    r = math.radians(rotation)
    cos, sin = math.cos(r), math.sin(r)
    lin = s * np.array([[cos, sin], [-sin, cos]])
    half = (input_size - 1) / 2.0
    t = np.array([half, half]) - lin @ np.array([cx, cy])
    m = np.concatenate([lin, t[:, None]], axis=1)
    if flip:
        m = compose(np.array([[-1.0, 0.0, input_size - 1.0], [0.0, 1.0, 0.0]]), m)
    return m


def compose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The 2x3 affine ``a o b`` (apply ``b`` first)."""
    a3 = np.vstack([np.asarray(a, dtype=np.float64), [0.0, 0.0, 1.0]])
    b3 = np.vstack([np.asarray(b, dtype=np.float64), [0.0, 0.0, 1.0]])
    return (a3 @ b3)[:2]


def invert_affine(m: np.ndarray) -> np.ndarray:
    """Inverse of a 2x3 affine matrix, ``(2, 3)`` float64."""
    m3 = np.vstack([np.asarray(m, dtype=np.float64).reshape(2, 3), [0.0, 0.0, 1.0]])
    return np.linalg.inv(m3)[:2]


def apply_affine(points, m) -> np.ndarray:
    """Map points exactly through a 2x3 affine matrix.

    Args:
        points: ``(..., 2)`` ``(x, y)``; NaN stays NaN.
        m: ``(2, 3)``, or ``(..., 2, 3)`` broadcast against the points' leading dimensions
            minus the landmark axis (e.g. points ``(B, K, 2)`` with matrices ``(B, 2, 3)``).

    Returns:
        ``(..., 2)`` float64.
    """
    p = np.asarray(points, dtype=np.float64)
    m = np.asarray(m, dtype=np.float64)
    if m.ndim == 2:
        return p @ m[:, :2].T + m[:, 2]
    # batched: points (B, K, 2), m (B, 2, 3)
    return np.einsum("...kj,...ij->...ki", p, m[..., :2]) + m[..., None, :, 2]


def warp_image(image: np.ndarray, m: np.ndarray, input_size: int, border_value=0) -> np.ndarray:
    """Warp an image into the crop with ``cv2.warpAffine`` (bilinear, constant border).

    Args:
        image: ``(H, W, C)`` or ``(H, W)``, any dtype cv2 supports (uint8 RGB in otmark).
        m: ``(2, 3)`` image -> crop matrix.
        input_size: crop side ``N``.

    Returns:
        ``(N, N, C)`` (or ``(N, N)``), same dtype as ``image``.
    """
    return cv2.warpAffine(
        image,
        np.asarray(m, dtype=np.float64),
        (int(input_size), int(input_size)),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=border_value,
    )


def unflip_landmarks(points, flip_permutation) -> np.ndarray:
    """Undo the landmark re-indexing of a horizontal flip.

    After a flip, slot ``k`` holds the mirror image of original landmark ``perm[k]``; this puts
    each point back in its original slot: ``out[perm[k]] = points[k]``.

    Args:
        points: ``(..., K, 2)``.
        flip_permutation: ``(K,)`` int, an involution.
    """
    p = np.asarray(points)
    perm = np.asarray(flip_permutation, dtype=np.int64)
    out = np.empty_like(p)
    out[..., perm, :] = p
    return out


def crop_to_image(points, inverse_matrix, flip_permutation=None) -> np.ndarray:
    """Map crop points back to the original image.

    Args:
        points: ``(..., K, 2)`` crop coordinates.
        inverse_matrix: ``(2, 3)`` or ``(B, 2, 3)`` crop -> image matrix (the inverse of the
            :func:`crop_matrix` that made the crop; with a flip it contains the mirror).
        flip_permutation: ``(K,)`` when the crop was flipped: points are also returned to their
            original slots (:func:`unflip_landmarks`).

    Returns:
        ``(..., K, 2)`` float64 image coordinates.
    """
    out = apply_affine(points, inverse_matrix)
    if flip_permutation is not None:
        out = unflip_landmarks(out, flip_permutation)
    return out


def heatmap_to_image(points, inverse_matrix, input_size: int, heatmap_size: int) -> np.ndarray:
    """Map decoded heatmap points ``(..., K, 2)`` to the image through the crop.

    ``inverse_matrix`` is the crop -> image matrix ``(2, 3)`` or ``(B, 2, 3)``.
    """
    crop = apply_affine(points, heatmap_to_crop_matrix(input_size, heatmap_size))
    return apply_affine(crop, inverse_matrix)
