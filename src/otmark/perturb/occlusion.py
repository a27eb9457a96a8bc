"""Synthetic occlusion: a black filled ellipse of random size, position and angle on the face.

Sizes are relative to the face box side ``s = sqrt(w * h)`` of the box ``(x0, y0, x1, y1)``.
Each **full** axis length (diameter) of the ellipse is drawn independently and uniformly in

* ``medium``: ``[0.3, 0.5] * s`` -- about one facial component (an eye with its brow, the nose
  or the mouth spans roughly a third of the face box), so a handful of landmarks are hidden;
* ``large``: ``[0.5, 0.7] * s`` -- two components at once (e.g. both eyes, or mouth and chin),
  up to about half of the face area.

The centre is uniform inside the box and the angle uniform in ``[0, 180)`` degrees. The ellipse
may extend beyond the box (and is clipped by the image border). The random draw depends only on
the seed, so with ``seed = otmark.perturb.sample_seed(protocol_seed, sample_id)`` every evaluated
model sees the same occluder on the same sample.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

#: level -> (min, max) full axis length as a fraction of the box side sqrt(w * h)
OCCLUSION_LEVELS: dict[str, tuple[float, float]] = {
    "medium": (0.3, 0.5),
    "large": (0.5, 0.7),
}


@dataclass(frozen=True)
class Ellipse:
    """An ellipse in image coordinates (pixel centres at integers).

    Attributes:
        center: ``(cx, cy)``.
        axes: ``(a, b)`` semi-axis lengths in pixels (half the full axes).
        angle: rotation of the ``a`` axis from the x axis, degrees (towards +y).
    """

    center: tuple[float, float]
    axes: tuple[float, float]
    angle: float

    def to_dict(self) -> dict:
        return asdict(self)

    def contains(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Boolean mask of the points ``(x, y)`` (any broadcastable shapes) inside the ellipse."""
        t = np.deg2rad(self.angle)
        dx = np.asarray(x, dtype=np.float64) - self.center[0]
        dy = np.asarray(y, dtype=np.float64) - self.center[1]
        u = dx * np.cos(t) + dy * np.sin(t)
        v = -dx * np.sin(t) + dy * np.cos(t)
        return (u / self.axes[0]) ** 2 + (v / self.axes[1]) ** 2 <= 1.0


def _check_box(box: np.ndarray) -> np.ndarray:
    box = np.asarray(box, dtype=np.float64).reshape(-1)
    if box.shape != (4,) or not np.isfinite(box).all() or box[2] <= box[0] or box[3] <= box[1]:
        raise ValueError(f"box must be finite (x0, y0, x1, y1) with x1 > x0, y1 > y0; got {box}")
    return box


def random_ellipse(box: np.ndarray, level: str, seed: int) -> Ellipse:
    """Draw the occluding ellipse for a face ``box (4,)`` at ``level`` from ``seed``."""
    if level not in OCCLUSION_LEVELS:
        raise ValueError(
            f"occlusion level must be one of {sorted(OCCLUSION_LEVELS)}, got {level!r}"
        )
    box = _check_box(box)
    lo, hi = OCCLUSION_LEVELS[level]
    side = float(np.sqrt((box[2] - box[0]) * (box[3] - box[1])))
    rng = np.random.default_rng(seed)
    cx = rng.uniform(box[0], box[2])
    cy = rng.uniform(box[1], box[3])
    full_axes = rng.uniform(lo, hi, size=2) * side
    angle = rng.uniform(0.0, 180.0)
    return Ellipse(
        center=(float(cx), float(cy)),
        axes=(float(full_axes[0] / 2), float(full_axes[1] / 2)),
        angle=float(angle),
    )


def draw_ellipse(image: np.ndarray, ellipse: Ellipse, color: tuple[int, int, int] = (0, 0, 0)):
    """Return a copy of ``image (H, W, 3) uint8`` with ``ellipse`` filled in ``color``.

    A pixel is filled exactly when its centre (integer coordinates) lies inside the ellipse
    (:meth:`Ellipse.contains`), so the occluded area is ``pi * a * b`` up to rasterisation.
    Only the ellipse's bounding window is tested (vectorised).
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be (H, W, 3) uint8, got {image.shape} {image.dtype}")
    out = image.copy()
    h, w = image.shape[:2]
    r = max(ellipse.axes)
    cx, cy = ellipse.center
    x0, x1 = max(0, int(np.floor(cx - r))), min(w, int(np.ceil(cx + r)) + 1)
    y0, y1 = max(0, int(np.floor(cy - r))), min(h, int(np.ceil(cy + r)) + 1)
    if x0 >= x1 or y0 >= y1:
        return out
    ys, xs = np.mgrid[y0:y1, x0:x1]
    mask = ellipse.contains(xs, ys)
    out[y0:y1, x0:x1][mask] = np.asarray(color, dtype=np.uint8)
    return out


def occlude(
    image: np.ndarray, box: np.ndarray, level: str = "medium", seed: int = 0
) -> tuple[np.ndarray, Ellipse]:
    """Superpose a black filled ellipse on the face.

    Args:
        image: ``(H, W, 3)`` uint8 (not modified).
        box: ``(4,)`` face box ``x0, y0, x1, y1``.
        level: ``"medium"`` (full axes 0.3-0.5 of the box side) or ``"large"`` (0.5-0.7).
        seed: the per-sample seed (see :func:`otmark.perturb.sample_seed`).

    Returns:
        ``(occluded image (H, W, 3) uint8, the Ellipse drawn)``.
    """
    ellipse = random_ellipse(box, level, seed)
    return draw_ellipse(image, ellipse), ellipse
