"""Label adaptation: a per-point offset that maps a model's points to an annotation convention.

A model trained on generated faces places some points where the generator puts them (e.g. the
jaw line a little inside the visible contour), not where human annotators click. The map here
is the smallest correction that learns this from a few labelled faces: one 2-D offset per point,
expressed in each face's own normalised frame, so it follows the face's position, size and
in-plane rotation.

The frame of a predicted shape ``P`` (``(K, 2)``): centre ``c`` = mean of its points, scale
``s`` = RMS distance of its points to ``c``, rotation ``R`` = the orthogonal Procrustes
rotation taking ``(P - c) / s`` onto a reference shape (the mean normalised prediction of the
fitting faces). The offset of point ``k`` is the ridge-shrunk mean, over the fitting faces, of
``(L_k - P_k) R / s`` (``L`` the labels); applied, ``P_k + s * offset_k R^T``.

Fitting and scoring on the same faces flatters the map: :func:`leave_one_out` scores each
face with a map fitted on the others.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

KIND = "point_offset"


def _centre_scale(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centres ``(N, 2)`` and RMS scales ``(N,)`` of shapes ``(N, K, 2)``."""
    c = points.mean(axis=1)
    s = np.sqrt(((points - c[:, None]) ** 2).sum(-1).mean(-1))
    if np.any(s <= 0):
        raise ValueError("a shape has all its points at one place (zero scale)")
    return c, s


def _degenerate(points: np.ndarray) -> np.ndarray:
    """``(N,)`` True for shapes ``(N, K, 2)`` whose points (nearly) coincide."""
    c = points.mean(axis=1, keepdims=True)
    spread = np.sqrt(((points - c) ** 2).sum(-1).mean(-1))
    return spread <= 1e-9 * (1.0 + np.abs(c).max(axis=(1, 2)))


def _rotations(shapes: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Rotations ``(N, 2, 2)`` (no reflection) minimising ``|shape @ R - reference|``.

    ``shapes``: ``(N, K, 2)`` centred and scaled; ``reference``: ``(K, 2)``.
    """
    m = np.einsum("nki,kj->nij", shapes, reference)
    u, _, vt = np.linalg.svd(m)
    d = np.sign(np.linalg.det(u @ vt))
    fix = np.ones((len(shapes), 2))
    fix[:, 1] = d
    return u @ (fix[:, :, None] * vt)


def _frames(points: np.ndarray, reference: np.ndarray):
    c, s = _centre_scale(points)
    q = (points - c[:, None]) / s[:, None, None]
    return c, s, _rotations(q, reference)


def _reference(points: np.ndarray, iterations: int = 5) -> np.ndarray:
    """Generalised Procrustes mean of shapes ``(N, K, 2)`` (centred, unit RMS scale)."""
    c, s = _centre_scale(points)
    q = (points - c[:, None]) / s[:, None, None]
    ref = q[0]
    for _ in range(iterations):
        r = _rotations(q, ref)
        ref = np.einsum("nki,nij->kj", q, r) / len(q)
        ref = ref - ref.mean(0)
        ref = ref / np.sqrt((ref**2).sum(-1).mean())
    return ref


@dataclass(frozen=True)
class PointOffsets:
    """The fitted map. ``reference``, ``offsets``: ``(K, 2)``; ``ridge``: the shrinkage
    (pseudo-faces with zero offset); ``faces``: how many faces it was fitted on."""

    reference: np.ndarray
    offsets: np.ndarray
    ridge: float = 1.0
    faces: int = 0

    @classmethod
    def fit(cls, predictions: np.ndarray, labels: np.ndarray, ridge: float = 1.0) -> PointOffsets:
        """Fit on predictions and labels ``(N, K, 2)`` (image coordinates, same faces)."""
        p = np.asarray(predictions, dtype=np.float64)
        lab = np.asarray(labels, dtype=np.float64)
        if p.shape != lab.shape or p.ndim != 3 or p.shape[-1] != 2 or len(p) == 0:
            raise ValueError(
                f"predictions and labels must both be (N, K, 2) with N >= 1, got "
                f"{p.shape} and {lab.shape}"
            )
        if ridge < 0:
            raise ValueError(f"ridge must be >= 0, got {ridge}")
        ref = _reference(p)
        _, s, r = _frames(p, ref)
        d = np.einsum("nki,nij->nkj", lab - p, r) / s[:, None, None]
        offsets = d.sum(0) / (len(p) + ridge)
        return cls(ref, offsets, float(ridge), len(p))

    def apply(self, points: np.ndarray) -> np.ndarray:
        """Adapted points: ``(N, K, 2)`` (or ``(K, 2)``) -> same shape, float64. A shape whose
        points all coincide has no frame and is returned unchanged."""
        p = np.asarray(points, dtype=np.float64)
        single = p.ndim == 2
        if single:
            p = p[None]
        if p.shape[1:] != self.offsets.shape:
            raise ValueError(f"points {p.shape[1:]} do not match the map's {self.offsets.shape}")
        out = p.copy()
        ok = ~_degenerate(p)
        if ok.any():
            _, s, r = _frames(p[ok], self.reference)
            out[ok] += s[:, None, None] * np.einsum("kj,nij->nki", self.offsets, r)
        return out[0] if single else out

    __call__ = apply

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON / checkpoint)."""
        return {
            "kind": KIND,
            "reference": self.reference.tolist(),
            "offsets": self.offsets.tolist(),
            "ridge": self.ridge,
            "faces": self.faces,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PointOffsets:
        """Inverse of :meth:`to_dict` (``ValueError`` for another kind or bad shapes)."""
        if d.get("kind") != KIND:
            raise ValueError(f"label adaptation kind must be {KIND!r}, got {d.get('kind')!r}")
        ref = np.asarray(d["reference"], dtype=np.float64)
        off = np.asarray(d["offsets"], dtype=np.float64)
        if ref.ndim != 2 or ref.shape[1] != 2 or off.shape != ref.shape:
            raise ValueError(f"label adaptation shapes {ref.shape} / {off.shape} are not (K, 2)")
        return cls(ref, off, float(d.get("ridge", 1.0)), int(d.get("faces", 0)))


def leave_one_out(predictions: np.ndarray, labels: np.ndarray, ridge: float = 1.0) -> np.ndarray:
    """Each face adapted by a map fitted on all the other faces: ``(N, K, 2)``, N >= 2."""
    p = np.asarray(predictions, dtype=np.float64)
    lab = np.asarray(labels, dtype=np.float64)
    if len(p) < 2:
        raise ValueError("leave-one-out needs at least 2 faces")
    out = np.empty_like(p)
    for i in range(len(p)):
        keep = np.arange(len(p)) != i
        out[i] = PointOffsets.fit(p[keep], lab[keep], ridge).apply(p[i])
    return out
