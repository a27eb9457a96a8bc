"""The NME normaliser of each scheme.

- ``interocular`` schemes (300W/300VW: points 36, 45; WFLW: 60, 72; COFW: 8, 9; 17: 6, 9): the
  distance between the two outer eye corners of the **ground-truth** landmarks.
- ``box`` schemes (AFLW): the face box size. Pass ``box_sizes`` (AFLW's ``box_size`` column,
  ``= 200 * scale``, which HRNet uses); otherwise ``boxes`` ``(N, 4)`` = ``x0, y0, x1, y1`` give
  ``sqrt(w * h)`` (``w = x1 - x0``, ``h = y1 - y0``), the usual fallback.
"""

from __future__ import annotations

import numpy as np

from otmark.schemes.registry import get_scheme
from otmark.schemes.scheme import INTEROCULAR, LandmarkScheme


def normaliser(
    landmarks,
    scheme: str | LandmarkScheme,
    boxes=None,
    box_sizes=None,
) -> np.ndarray:
    """Per-image NME normaliser.

    Args:
        landmarks: ``(N, K, 2)`` ground-truth landmarks (numpy or anything ``np.asarray`` takes).
        scheme: scheme of the landmarks.
        boxes: ``(N, 4)`` face boxes ``x0, y0, x1, y1`` (box schemes only, if no ``box_sizes``).
        box_sizes: ``(N,)`` box sizes (box schemes; preferred over ``boxes``).
    Returns:
        ``(N,)`` float64 normalisers.
    Raises:
        ValueError: wrong shapes, or a box scheme without ``boxes``/``box_sizes``.
    """
    s = get_scheme(scheme)
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.ndim != 3 or lm.shape[1:] != (s.num_points, 2):
        raise ValueError(
            f"normaliser: landmarks must be (N, {s.num_points}, 2) for scheme {s.name}, "
            f"got {lm.shape}"
        )
    n = lm.shape[0]
    if s.normaliser_kind == INTEROCULAR:
        i, j = s.normaliser_indices
        return np.linalg.norm(lm[:, i] - lm[:, j], axis=-1)
    if box_sizes is not None:
        sizes = np.asarray(box_sizes, dtype=np.float64).reshape(-1)
        if sizes.shape != (n,):
            raise ValueError(f"normaliser: box_sizes must be ({n},), got {sizes.shape}")
        return sizes
    if boxes is not None:
        b = np.asarray(boxes, dtype=np.float64)
        if b.shape != (n, 4):
            raise ValueError(f"normaliser: boxes must be ({n}, 4), got {b.shape}")
        return np.sqrt((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]))
    raise ValueError(
        f"normaliser: scheme {s.name} is normalised by the face box; pass box_sizes or boxes"
    )
