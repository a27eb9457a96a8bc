"""Jitter: how much predicted landmarks shake from frame to frame beyond the true motion.

For consecutive frames ``t - 1, t`` of one video, with predictions ``p`` and ground truth ``g``
``(K, 2)``::

    jitter_t = mean_k || (p_t,k - p_t-1,k) - (g_t,k - g_t-1,k) || / d_t

where ``d_t`` is frame ``t``'s NME normaliser (the scheme's, :func:`otmark.schemes.normaliser`;
the same as in :func:`otmark.metrics.landmark_errors`). A still prediction on a moving face and
a shaking prediction on a still face both count; a prediction that follows the true motion with
a constant offset has no jitter. Equivalently, with residuals ``r = p - g``,
``jitter_t = mean_k || r_t,k - r_t-1,k || / d_t``. The first frame of each run of consecutive
frames has no value (NaN), nor a frame where either frame's prediction or ground truth is
missing (NaN). :func:`mean_jitter` averages the defined values (a fraction, like NME).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def frame_jitter(
    pred: np.ndarray,
    gt: np.ndarray,
    normaliser: np.ndarray,
    frames: Sequence[int] | None = None,
    videos: Sequence[str] | None = None,
) -> np.ndarray:
    """Per-frame jitter of a sequence of frames.

    Args:
        pred: ``(T, K, 2)`` predictions, frames in time order.
        gt: ``(T, K, 2)`` ground truth.
        normaliser: ``(T,)`` positive NME normalisers.
        frames: ``T`` frame indices (default ``0..T-1``); frame ``t`` has a value only when
            frame ``t - 1`` holds index ``frames[t] - 1`` (of the same video).
        videos: ``T`` video names (default: one video); pairs across videos have no value.

    Returns:
        ``(T,)`` float64 jitter (fractions of the normaliser), NaN where undefined.
    """
    p = np.asarray(pred, dtype=np.float64)
    g = np.asarray(gt, dtype=np.float64)
    if p.ndim != 3 or p.shape[-1] != 2 or g.shape != p.shape:
        raise ValueError(f"pred and gt must both be (T, K, 2), got {p.shape} and {g.shape}")
    t = p.shape[0]
    norm = np.asarray(normaliser, dtype=np.float64).reshape(-1)
    if norm.shape != (t,):
        raise ValueError(f"normaliser has {norm.shape[0]} values for {t} frames")
    idx = np.arange(t) if frames is None else np.asarray(frames, dtype=np.int64)
    vid = np.zeros(t, dtype=object) if videos is None else np.asarray(list(videos), dtype=object)
    if idx.shape != (t,) or vid.shape != (t,):
        raise ValueError(f"frames and videos must have {t} entries")
    out = np.full(t, np.nan)
    if t < 2:
        return out
    r = p - g  # (T, K, 2)
    step = np.linalg.norm(r[1:] - r[:-1], axis=-1).mean(axis=-1)  # (T-1,), NaN propagates
    ok = (idx[1:] == idx[:-1] + 1) & (vid[1:] == vid[:-1]) & np.isfinite(norm[1:]) & (norm[1:] > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        out[1:] = np.where(ok, step / norm[1:], np.nan)
    return out


def mean_jitter(per_frame: np.ndarray) -> float:
    """Mean of the defined per-frame jitter values (NaN when none is defined)."""
    v = np.asarray(per_frame, dtype=np.float64)
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else float("nan")
