"""Per-landmark normalised errors and the normalised mean error (NME).

Everything here is vectorised numpy: no Python loop over images or landmarks.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _check_pair(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if pred.ndim != 3 or pred.shape[-1] != 2:
        raise ValueError(f"pred must have shape (N, K, 2), got {pred.shape}")
    if gt.shape != pred.shape:
        raise ValueError(f"gt shape {gt.shape} does not match pred shape {pred.shape}")
    return pred, gt


def landmark_errors(
    pred: np.ndarray,
    gt: np.ndarray,
    normaliser: np.ndarray,
    ids: Sequence[str] | None = None,
) -> np.ndarray:
    """Euclidean error of every landmark divided by its image's normaliser.

    Args:
        pred: ``(N, K, 2)`` predicted ``(x, y)``.
        gt: ``(N, K, 2)`` ground truth, same coordinates.
        normaliser: ``(N,)`` positive distances (e.g. inter-ocular distance, AFLW box size).
        ids: optional ``N`` sample ids, only used to name the offending sample in errors.

    Returns:
        ``(N, K)`` float64 errors ``||pred_ij - gt_ij|| / normaliser_i``.

    Raises:
        ValueError: shapes disagree, or a normaliser is zero, negative or not finite (the message
            names the first bad sample index, and its id when ``ids`` is given).
    """
    pred, gt = _check_pair(pred, gt)
    norm = np.asarray(normaliser, dtype=np.float64).reshape(-1)
    if norm.shape[0] != pred.shape[0]:
        raise ValueError(f"normaliser has {norm.shape[0]} values for {pred.shape[0]} samples")
    if ids is not None and len(ids) != pred.shape[0]:
        raise ValueError(f"ids has {len(ids)} entries for {pred.shape[0]} samples")
    bad = ~(np.isfinite(norm) & (norm > 0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        who = f"sample {i}" + (f" (id {ids[i]!r})" if ids is not None else "")
        raise ValueError(
            f"{who}: normaliser must be finite and > 0, got {norm[i]!r} "
            f"({int(bad.sum())} bad normaliser(s) in total)"
        )
    dist = np.sqrt(np.sum((pred - gt) ** 2, axis=-1))
    return dist / norm[:, None]


def per_image_nme(errors: np.ndarray) -> np.ndarray:
    """``(N, K)`` normalised errors -> ``(N,)`` per-image NME (mean over landmarks)."""
    errors = as_errors(errors)
    return errors.mean(axis=1)


def nme(errors: np.ndarray) -> float:
    """Dataset NME (a fraction): mean over landmarks per image, then mean over images.

    ``errors``: ``(N, K)`` from :func:`landmark_errors`. Because every image has the same
    number of landmarks, this equals the mean of all ``N * K`` values.
    """
    return float(per_image_nme(errors).mean())


def as_errors(errors: np.ndarray) -> np.ndarray:
    errors = np.asarray(errors, dtype=np.float64)
    if errors.ndim != 2 or errors.shape[0] == 0 or errors.shape[1] == 0:
        raise ValueError(f"errors must have shape (N, K) with N, K >= 1, got {errors.shape}")
    if not np.isfinite(errors).all():
        raise ValueError("errors contain NaN or infinite values")
    if (errors < 0).any():
        raise ValueError("errors must be non-negative")
    return errors
