"""Turn predictions in the model's scheme into normalised errors in the common space.

The common space of a prediction scheme ``a`` and a ground-truth scheme ``b`` is
:func:`otmark.schemes.common_points` (the richest scheme both convert into, e.g. 300W -> WFLW:
the 68 iBUG points; COFW -> AFLW: the 19 AFLW points). Predictions and ground truth are both
converted into it; the normaliser is the **common space's** normaliser computed on the converted
ground truth (300W -> WFLW: distance between the 68-point outer eye corners 36 and 45 of the
converted WFLW annotation; COFW -> AFLW: the AFLW box size). With ``strict=True`` only the
exactly shared points are scored (the normaliser still uses the full converted annotation).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from otmark.datasets.records import Sample
from otmark.metrics import landmark_errors
from otmark.schemes import canonical_name, common_points, get_scheme, normaliser
from otmark.schemes.conversions import apply_matrix


def ground_truth(samples: Sequence[Sample]) -> np.ndarray:
    """``(N, K, 2)`` ground-truth landmarks of ``samples`` (one scheme)."""
    return np.stack([np.asarray(s.landmarks, dtype=np.float64) for s in samples])


def box_normaliser_inputs(samples: Sequence[Sample]) -> dict[str, np.ndarray]:
    """``box_sizes`` (``attributes["box_size"]``, AFLW) or ``boxes`` for box-normalised schemes.

    Preference: every sample's ``box_size`` attribute, else every sample's ``box``, else the
    tight boxes of the ground-truth landmarks.
    """
    if all("box_size" in s.attributes for s in samples):
        return {"box_sizes": np.array([float(s.attributes["box_size"]) for s in samples])}
    if all(s.box is not None for s in samples):
        return {"boxes": np.stack([np.asarray(s.box, np.float64).reshape(4) for s in samples])}
    gt = ground_truth(samples)
    return {"boxes": np.concatenate([gt.min(axis=1), gt.max(axis=1)], axis=1)}


def score(
    pred: np.ndarray,
    pred_scheme: str,
    samples: Sequence[Sample],
    strict: bool = False,
) -> tuple[np.ndarray, str]:
    """Per-landmark normalised errors of ``pred`` against ``samples`` in the common space.

    Args:
        pred: ``(N, K_pred, 2)`` image coordinates in ``pred_scheme``, aligned with ``samples``.
        pred_scheme: the model's scheme.
        samples: ``N`` ground-truth samples (one scheme).
        strict: score only the exactly shared points.

    Returns:
        ``(errors (N, K_common), common space name)``.
    """
    if not samples:
        raise ValueError("no samples to score")
    gt_scheme = canonical_name(samples[0].scheme)
    mixed = {canonical_name(s.scheme) for s in samples} - {gt_scheme}
    if mixed:
        raise ValueError(f"samples mix schemes {sorted(mixed | {gt_scheme})}")
    pred = np.asarray(pred, dtype=np.float64)
    k = get_scheme(pred_scheme).num_points
    if pred.shape != (len(samples), k, 2):
        raise ValueError(
            f"predictions must be ({len(samples)}, {k}, 2) for scheme {pred_scheme}, "
            f"got {pred.shape}"
        )
    gt = ground_truth(samples)
    cp = common_points(pred_scheme, gt_scheme, strict=strict)
    gt_full = apply_matrix(cp.matrix_b, gt)
    extra = box_normaliser_inputs(samples) if get_scheme(cp.space).normaliser_kind == "box" else {}
    norm = normaliser(gt_full, cp.space, **extra)
    errors = landmark_errors(
        cp.to_common_a(pred), gt_full[:, cp.keep], norm, ids=[s.id for s in samples]
    )
    return errors, cp.space
