"""Jitter of a protocol's predictions on video frames (300VW), beside its NME.

Scored like NME (:func:`otmark.protocols.scoring.score`): predictions and ground truth are
converted into the common space of the two schemes and each frame is normalised by the common
space's normaliser of its converted ground truth; then :func:`otmark.metrics.jitter.frame_jitter`
over the frames of each video in frame order (pairs of consecutive annotated frames only).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from otmark.datasets.records import Sample
from otmark.metrics.jitter import frame_jitter, mean_jitter
from otmark.protocols.protocol import video_position
from otmark.protocols.scoring import box_normaliser_inputs, ground_truth
from otmark.schemes import canonical_name, common_points, get_scheme, normaliser
from otmark.schemes.conversions import apply_matrix


def video_jitter(samples: Sequence[Sample], pred: np.ndarray, pred_scheme: str) -> dict | None:
    """The jitter of ``pred (N, K_pred, 2)`` (aligned with ``samples``) when every sample is a
    video frame (:func:`otmark.protocols.protocol.video_position`), else None.

    Returns:
        ``{"jitter": mean in percent, "frames": frame pairs scored, "videos": videos,
        "space": common space}``; ``jitter`` is None when no two consecutive frames exist.
    """
    if not samples:
        return None
    pos = [video_position(s) for s in samples]
    if any(p is None for p in pos):
        return None
    gt_scheme = canonical_name(samples[0].scheme)
    cp = common_points(pred_scheme, gt_scheme)
    gt_full = apply_matrix(cp.matrix_b, ground_truth(samples))
    extra = box_normaliser_inputs(samples) if get_scheme(cp.space).normaliser_kind == "box" else {}
    norm = normaliser(gt_full, cp.space, **extra)
    p = cp.to_common_a(np.asarray(pred, dtype=np.float64))
    g = gt_full[:, cp.keep]
    order = sorted(range(len(samples)), key=lambda i: pos[i])
    per_frame = frame_jitter(
        p[order],
        g[order],
        norm[order],
        frames=[pos[i][1] for i in order],
        videos=[pos[i][0] for i in order],
    )
    value = mean_jitter(per_frame)
    return {
        "jitter": None if not np.isfinite(value) else 100.0 * value,
        "frames": int(np.isfinite(per_frame).sum()),
        "videos": len({v for v, _ in pos}),
        "space": cp.space,
        "units": "percent of the NME normaliser, per frame",
    }
