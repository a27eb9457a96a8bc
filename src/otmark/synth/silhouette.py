"""The jaw contour on the visible silhouette, as iBUG-68/300W annotators place it.

The face model's jaw is a 3-D curve, the rim of the skin's dome (the renderer's fan mesh,
:mod:`otmark.synth.render`: the point at fraction ``s`` of the way from
:data:`FAN_CENTRE` to a rim point ``L`` is ``c + s (L - c)`` in ``x, y`` and ``c_z + s^2 (L_z -
c_z)`` in depth). On a frontal face, and on the side of a turned face nearer to the camera, the
rim is the face's outline. On the far side of a turned (or steeply pitched) face the rim goes
behind the cheek and its projection falls *inside* the face, while annotators put the contour
points on the visible outline of the cheek.

:func:`silhouette_points` moves each jaw point along its **meridian** (the dome's curve from the
centre to the rim point, ``s`` in ``[S_MIN, 1]``) to the point that lies outermost in the image:
the one nearest to the boundary of the projected dome's convex hull (the skin's outline, as the
renderer fills it). Where the rim point is itself on the outline (frontal faces, the near side)
it stays where it is; the far-side points move outwards onto the cheek's outline.
"""

from __future__ import annotations

import cv2
import numpy as np

#: the skin dome's apex (head frame), shared with the renderer's fan mesh
FAN_CENTRE = np.array([0.0, 0.25, 0.26])
#: the meridian is searched from this fraction of the way to the rim (the silhouette of a
#: turned face never lies deeper inside the dome)
S_MIN = 0.3
#: samples per meridian
MERIDIAN_SAMPLES = 57
#: rim points (jaw and forehead) whose meridians make up the outline's hull
HULL_RIM = (65, 33)


def dome_points(rim: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Points of the skin dome on the meridians of ``rim: (N, 3)`` at fractions ``s: (S,)``
    -> ``(N, S, 3)`` (``s = 1``: the rim itself)."""
    r = np.asarray(rim, dtype=np.float64)[:, None, :]
    f = np.asarray(s, dtype=np.float64)[None, :, None]
    out = FAN_CENTRE + f * (r - FAN_CENTRE)
    out[..., 2] = FAN_CENTRE[2] + (r[..., 2] - FAN_CENTRE[2]) * f[..., 0] ** 2
    return out


def outline_hull(face, project) -> np.ndarray:
    """Convex hull ``(H, 1, 2)`` float32 (OpenCV's layout) of the projected skin dome:
    ``project`` maps head-frame points ``(N, 3)`` to pixels ``(N, 2)``."""
    nj, nf = HULL_RIM
    jaw = face.curve("jaw", np.linspace(0.0, 1.0, nj))
    rim = np.vstack([jaw, face.curve("forehead", np.linspace(0.0, 1.0, nf))])
    pts = dome_points(rim, np.linspace(0.0, 1.0, 17)).reshape(-1, 3)
    uv = project(pts).astype(np.float32)
    return cv2.convexHull(uv.reshape(-1, 1, 2))


def silhouette_points(face, t: np.ndarray, project) -> tuple[np.ndarray, np.ndarray]:
    """The jaw points at curve parameters ``t: (N,)`` moved onto the visible outline.

    Args:
        face: the :class:`otmark.synth.face_model.Face`.
        t: jaw parameters (0 = the subject's right end, 0.5 = chin, 1 = left end).
        project: head-frame points ``(M, 3)`` -> pixels ``(M, 2)`` (pose and camera bound).

    Returns:
        ``uv (N, 2)`` pixels and ``moved (N,)`` bool (False where the rim point already lies
        outermost on its meridian and is returned unchanged).
    """
    ts = np.atleast_1d(np.asarray(t, dtype=np.float64))
    rim = face.curve("jaw", ts)
    s = np.linspace(S_MIN, 1.0, MERIDIAN_SAMPLES)
    pts = dome_points(rim, s)  # (N, S, 3)
    uv = project(pts.reshape(-1, 3)).reshape(len(ts), len(s), 2)
    hull = outline_hull(face, project)
    out = uv[:, -1].copy()
    moved = np.zeros(len(ts), dtype=bool)
    for k in range(len(ts)):
        inside = np.array(
            [cv2.pointPolygonTest(hull, (float(x), float(y)), True) for x, y in uv[k]]
        )
        # the outermost sample; among (near) ties the one nearest to the rim
        best = int(np.flatnonzero(inside <= inside.min() + 1e-3)[-1])
        if best < len(s) - 1:
            out[k] = uv[k, best]
            moved[k] = True
    return out, moved
