"""Re-cropping a face from its predicted landmarks, the way training crops it.

A face box from a finder is placed differently from the crops the model was trained on
(training crops come from the tight box of the annotated landmarks, ``crop_from: landmarks``,
:func:`otmark.transforms.centre_scale_from_landmarks`). Predictions from a misplaced crop are
biased, so :class:`otmark.inference.Detector` predicts once from the box, then re-crops from
the predicted landmarks with the training rule and predicts again, until the crop stops moving
(:func:`refine`, at most ``passes`` predictions per face).

A crop placement is ``(centre (2,), scale, angle)``: the crop covers a square of side
``200 * scale`` image pixels centred on ``centre``, turned by ``angle`` degrees
(:func:`otmark.transforms.crop_matrix`'s ``rotation``: the face is turned counter-clockwise on
screen by ``angle`` in the crop). :func:`crop_from_landmarks` gives the training placement of a
face from its landmarks; the angle is 0 (as in training) unless the face's roll, measured from
the eyes (:func:`eye_roll`), exceeds the rotations the training augmentation covered
(``max_roll``, :func:`rotation_limit`): then the crop is turned so that the eyes are level, and
its centre and scale come from the tight box of the landmarks in the turned frame.

The functions here are pure (no model): a video tracker can place the next frame's crop from
the last frame's landmarks with :func:`crop_from_landmarks` too.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from otmark.transforms import crop_matrix, invert_affine, to_tensor, warp_image
from otmark.transforms.augment import AugmentConfig
from otmark.transforms.crop import CONTEXT, SCALE_UNIT, centre_scale_from_box, tight_box

#: predictions per face by default: the box crop and one re-crop. Measured (docs/detect/detect.md
#: "Re-cropping"): a second re-crop helps generated faces from boxes moved by 10 % but drifts
#: from boxes moved by 20 % and on photographs, where predicted landmark boxes run slightly
#: smaller than the labels'.
DEFAULT_PASSES = 2
#: the crop "stops moving" when its centre moves less than this fraction of its side ...
SHIFT_TOLERANCE = 0.01
#: ... its side changes by less than this fraction ...
SCALE_TOLERANCE = 0.01
#: ... and its angle by less than this many degrees
ANGLE_TOLERANCE = 1.0


def rotation_limit(meta: Mapping[str, Any] | None = None) -> float:
    """The in-plane rotation (degrees) a model's training augmentation covered.

    Read from a checkpoint's ``config["augment"]`` (``rotation``; 0 when ``enabled`` is false or
    ``rotation_prob`` is 0); without one (packaged weights, ONNX models), the default
    augmentation's (:class:`otmark.transforms.AugmentConfig`, 30 degrees).
    """
    default = float(AugmentConfig().rotation)
    config = (meta or {}).get("config") or {}
    augment = config.get("augment") if isinstance(config, Mapping) else None
    if not isinstance(augment, Mapping):
        return default
    if not augment.get("enabled", True) or float(augment.get("rotation_prob", 1.0)) <= 0:
        return 0.0
    return abs(float(augment.get("rotation", default)))


def _eye_indices(scheme) -> tuple[list[int], list[int]] | None:
    regions = scheme.regions
    if "right_eye" in regions and "left_eye" in regions:
        return list(regions["right_eye"]), list(regions["left_eye"])
    if scheme.normaliser_indices is not None:
        a, b = scheme.normaliser_indices
        return [a], [b]
    return None


def eye_roll(landmarks: np.ndarray, scheme) -> float | None:
    """The face's roll in degrees: the angle of the line from the subject's right eye (on the
    image's left for an upright face) to the left eye, clockwise on screen (y points down).

    ``crop_matrix(..., rotation=eye_roll(...))`` levels the eyes. None when the scheme has no
    eye points or they are not finite.

    Args:
        landmarks: ``(K, 2)`` image coordinates.
        scheme: a :class:`otmark.schemes.LandmarkScheme` (its ``right_eye``/``left_eye``
            regions, else its two normaliser points).
    """
    eyes = _eye_indices(scheme)
    if eyes is None:
        return None
    pts = np.asarray(landmarks, dtype=np.float64)
    right, left = (pts[idx].mean(axis=0) for idx in eyes)
    d = left - right
    if not np.all(np.isfinite(d)) or not np.any(d):
        return None
    return math.degrees(math.atan2(d[1], d[0]))


def _rotation(angle: float) -> np.ndarray:
    """``(2, 2)`` linear part of :func:`otmark.transforms.crop_matrix` for ``angle`` degrees."""
    r = math.radians(angle)
    c, s = math.cos(r), math.sin(r)
    return np.array([[c, s], [-s, c]])


def crop_from_landmarks(
    landmarks: np.ndarray,
    scheme,
    context: float = CONTEXT,
    max_roll: float | None = None,
) -> tuple[np.ndarray, float, float]:
    """The training crop placement of a face from its landmarks.

    With the roll within ``max_roll`` (or ``max_roll=None``: never turn), exactly the training
    rule: ``centre_scale_from_landmarks(landmarks, context)`` and angle 0. Beyond it, the crop
    is turned by the roll (:func:`eye_roll`) and placed on the tight box of the landmarks in
    the turned frame (turned about the landmarks' mean).

    Args:
        landmarks: ``(K, 2)`` image coordinates (NaN rows ignored).
        scheme: the landmarks' :class:`otmark.schemes.LandmarkScheme` (eye points).
        context: factor applied to the box side.
        max_roll: the largest roll (degrees) cropped upright.

    Returns:
        ``centre (2,)``, ``scale`` (the crop covers ``200 * scale`` pixels) and ``angle``
        (degrees, :func:`otmark.transforms.crop_matrix`'s ``rotation``).
    """
    pts = np.asarray(landmarks, dtype=np.float64).reshape(-1, 2)
    roll = eye_roll(pts, scheme) if max_roll is not None else None
    if roll is None or abs(roll) <= max_roll:
        centre, scale = centre_scale_from_box(tight_box(pts), context=context)
        return centre, scale, 0.0
    rot = _rotation(roll)
    finite = pts[np.isfinite(pts).all(axis=1)]
    pivot = finite.mean(axis=0)
    upright = (pts - pivot) @ rot.T
    centre_u, scale = centre_scale_from_box(tight_box(upright), context=context)
    return pivot + rot.T @ centre_u, scale, float(roll)


@dataclass
class Placements:
    """Crop placements of ``N`` faces: ``centres (N, 2)``, ``scales (N,)``, ``angles (N,)``."""

    centres: np.ndarray
    scales: np.ndarray
    angles: np.ndarray

    def __len__(self) -> int:
        return len(self.scales)

    def subset(self, index: np.ndarray) -> Placements:
        """The placements of faces ``index`` (indices or a boolean mask)."""
        return Placements(self.centres[index], self.scales[index], self.angles[index])

    @classmethod
    def from_boxes(cls, boxes: np.ndarray, context: float = CONTEXT) -> Placements:
        """Upright crops of face boxes ``(N, 4)``
        (:func:`otmark.transforms.centre_scale_from_box`)."""
        cs = [centre_scale_from_box(b, context=context) for b in np.asarray(boxes).reshape(-1, 4)]
        return cls(
            np.array([c for c, _ in cs], dtype=np.float64).reshape(-1, 2),
            np.array([s for _, s in cs], dtype=np.float64),
            np.zeros(len(cs)),
        )

    @classmethod
    def from_landmarks(
        cls, landmarks: np.ndarray, scheme, context: float = CONTEXT, max_roll: float | None = None
    ) -> Placements:
        """:func:`crop_from_landmarks` of each face of ``landmarks (N, K, 2)``."""
        out = [crop_from_landmarks(p, scheme, context, max_roll) for p in landmarks]
        return cls(
            np.array([c for c, _, _ in out], dtype=np.float64).reshape(-1, 2),
            np.array([s for _, s, _ in out], dtype=np.float64),
            np.array([a for _, _, a in out], dtype=np.float64),
        )


def moved(a: Placements, b: Placements) -> np.ndarray:
    """``(N,)`` bool: whether crop ``b`` moved from crop ``a`` by more than the tolerances
    (:data:`SHIFT_TOLERANCE` of the side, :data:`SCALE_TOLERANCE`, :data:`ANGLE_TOLERANCE`)."""
    side = SCALE_UNIT * a.scales
    shift = np.linalg.norm(b.centres - a.centres, axis=1) / side
    scale = np.abs(np.log(b.scales / a.scales))
    turn = np.abs((b.angles - a.angles + 180.0) % 360.0 - 180.0)
    return (shift > SHIFT_TOLERANCE) | (scale > SCALE_TOLERANCE) | (turn > ANGLE_TOLERANCE)


#: ``predict(index (M,), placements of those M faces) -> (M, K, 2)`` image landmarks
Predictor = Callable[[np.ndarray, Placements], np.ndarray]


@dataclass
class Refined:
    """What :func:`refine` returns: ``landmarks (N, K, 2)``, the ``placements`` of the crops
    they were predicted from, and ``passes (N,)`` predictions made per face."""

    landmarks: np.ndarray
    placements: Placements
    passes: np.ndarray


def refine(
    predict: Predictor,
    landmarks: np.ndarray,
    start: Placements,
    scheme,
    passes: int = DEFAULT_PASSES,
    context: float = CONTEXT,
    max_roll: float | None = None,
) -> Refined:
    """Re-crop each face from its landmarks and predict again until its crop stops moving.

    Args:
        predict: the model behind crops at given placements (see :data:`Predictor`).
        landmarks: ``(N, K, 2)`` predictions from the first crops.
        start: the first crops' placements (e.g. :meth:`Placements.from_boxes`).
        scheme: the landmark scheme (eye points, :func:`crop_from_landmarks`).
        passes: at most this many predictions per face, the first one included (1: none more).
        context, max_roll: as in :func:`crop_from_landmarks`.

    Returns:
        the last prediction of each face (:class:`Refined`).
    """
    if passes < 1:
        raise ValueError(f"passes must be >= 1, got {passes}")
    pts = np.array(landmarks, dtype=np.float64, copy=True)
    cur = Placements(start.centres.copy(), start.scales.copy(), start.angles.copy())
    used = np.ones(len(cur), dtype=np.int64)
    active = np.ones(len(cur), dtype=bool)
    for _ in range(passes - 1):
        idx = np.flatnonzero(active)
        if len(idx) == 0:
            break
        new = Placements.from_landmarks(pts[idx], scheme, context, max_roll)
        go = moved(cur.subset(idx), new)
        active[idx[~go]] = False
        idx, new = idx[go], new.subset(go)
        if len(idx) == 0:
            break
        pts[idx] = predict(idx, new)
        cur.centres[idx], cur.scales[idx], cur.angles[idx] = new.centres, new.scales, new.angles
        used[idx] += 1
    return Refined(pts, cur, used)


def crop_placed(
    image: np.ndarray, placements: Placements, input_size: int, flip: bool = False
) -> tuple[torch.Tensor, np.ndarray]:
    """Crops of ``image (H, W, 3)`` uint8 RGB at ``placements`` (N faces).

    Returns:
        crops ``(N, 3, S, S)`` float32 (ImageNet-normalised, ``S = input_size``) and ``(N, 2, 3)``
        crop -> image matrices (which undo the mirror when ``flip``).
    """
    crops, inverses = [], []
    for c, s, a in zip(placements.centres, placements.scales, placements.angles):
        m = crop_matrix(c, float(s), input_size, rotation=float(a), flip=flip)
        crops.append(to_tensor(warp_image(image, m, input_size)))
        inverses.append(invert_affine(m))
    if not crops:
        return torch.zeros((0, 3, input_size, input_size)), np.zeros((0, 2, 3))
    return torch.stack(crops), np.stack(inverses)
