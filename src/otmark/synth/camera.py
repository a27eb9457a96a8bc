"""Head pose, perspective projection and self-occlusion of the face model.

Head frame: see :mod:`otmark.synth.face_model` (``x`` image-right, ``y`` down, ``z`` towards the
camera). Camera frame: ``X`` right, ``Y`` down, ``Z`` depth away from the camera, which sits at
the origin. A head-frame point ``p`` goes to ``P = M(R (p - pivot)) + T`` with ``M(x, y, z) =
(x, y, -z)``, and projects to the pixel ``(cx + f X / Z, cy + f Y / Z)`` (0-based, pixel centres
at integers, as everywhere in otmark).

Angles (degrees): positive ``yaw`` turns the face towards the image's right (the nose moves to
larger x), positive ``pitch`` tilts it down (the nose moves to larger y), positive ``roll`` turns
it clockwise in the image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from otmark.schemes import get_scheme
from otmark.synth.face_model import evaluate_specs, nose_points, scheme_specs, surface_normals
from otmark.synth.silhouette import silhouette_points

#: the head rotates about this head-frame point (roughly the top of the neck)
PIVOT = np.array([0.0, 0.35, -0.9])


@dataclass(frozen=True)
class Pose:
    """Head rotation in degrees (see the module docstring for the signs)."""

    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0


@dataclass(frozen=True)
class Camera:
    """Pinhole camera and head position.

    Attributes:
        focal: focal length in pixels.
        cx, cy: principal point in pixels.
        distance: depth of the pivot in head units (small = strong perspective).
        tx, ty: sideways offset of the pivot in head units.
    """

    focal: float
    cx: float
    cy: float
    distance: float = 8.0
    tx: float = 0.0
    ty: float = 0.0


def rotation_matrix(pose: Pose) -> np.ndarray:
    """``(3, 3)`` rotation ``R = Rz(roll) @ Rx(pitch) @ Ry(yaw)`` acting on head-frame points."""
    y, p, r = np.radians([pose.yaw, pose.pitch, pose.roll])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), np.sin(p)], [0, -np.sin(p), np.cos(p)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return rz @ rx @ ry


def to_camera(
    points: np.ndarray, pose: Pose, camera: Camera, rot: np.ndarray | None = None
) -> np.ndarray:
    """Head-frame ``points: (N, 3)`` -> camera-frame ``(N, 3)`` (``Z`` = depth).

    ``rot``: ``rotation_matrix(pose)`` when the caller already has it."""
    rot = rotation_matrix(pose) if rot is None else rot
    q = (np.asarray(points, dtype=np.float64) - PIVOT) @ rot.T
    return np.stack([q[:, 0] + camera.tx, q[:, 1] + camera.ty, camera.distance - q[:, 2]], axis=1)


def project(
    points: np.ndarray, pose: Pose, camera: Camera, rot: np.ndarray | None = None
) -> np.ndarray:
    """Pixel coordinates ``(N, 2)`` of head-frame ``points: (N, 3)``."""
    c = to_camera(points, pose, camera, rot)
    z = np.maximum(c[:, 2], 1e-6)
    return np.stack(
        [camera.cx + camera.focal * c[:, 0] / z, camera.cy + camera.focal * c[:, 1] / z], 1
    )


def facing_camera(
    points: np.ndarray,
    normals: np.ndarray,
    pose: Pose,
    camera: Camera,
    margin: float = 0.0,
    rot: np.ndarray | None = None,
) -> np.ndarray:
    """``(N,)`` bool: the surface at ``points: (N, 3)`` with outward ``normals: (N, 3)`` faces
    the camera (the cosine between the normal and the direction to the camera exceeds
    ``margin``)."""
    rot = rotation_matrix(pose) if rot is None else rot
    n = np.asarray(normals, dtype=np.float64) @ rot.T
    n[:, 2] = -n[:, 2]
    c = to_camera(points, pose, camera, rot)
    to_cam = -c / np.linalg.norm(c, axis=1, keepdims=True)
    return np.einsum("ij,ij->i", n, to_cam) > margin


def points_in_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """``(N,)`` bool: which 2-D ``points: (N, 2)`` lie strictly inside ``polygon: (M, 2)``
    (even-odd rule; boundary points may go either way)."""
    x, y = points[:, 0:1], points[:, 1:2]
    px, py = polygon[:, 0][None], polygon[:, 1][None]
    qx, qy = np.roll(px, -1, axis=1), np.roll(py, -1, axis=1)
    crosses = (py > y) != (qy > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_at = px + (y - py) * (qx - px) / (qy - py)
    return (np.sum(crosses & (x < x_at), axis=1) % 2) == 1


def convex_hull(points: np.ndarray) -> np.ndarray:
    """Convex hull ``(H, 2)`` of 2-D ``points: (N, 2)``, counter-clockwise (monotone chain)."""
    pts = sorted(map(tuple, np.asarray(points, dtype=np.float64)))
    if len(pts) <= 2:
        return np.array(pts)

    def half(seq):
        out: list[tuple[float, float]] = []
        for p in seq:
            while len(out) >= 2:
                (ax, ay), (bx, by) = out[-2], out[-1]
                if (bx - ax) * (p[1] - ay) - (by - ay) * (p[0] - ax) > 0:
                    break
                out.pop()
            out.append(p)
        return out

    lower, upper = half(pts), half(reversed(pts))
    return np.array(lower[:-1] + upper[:-1])


def annotate(
    face, scheme, pose: Pose, camera: Camera, jaw_outline: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """2-D landmarks of ``face`` in ``scheme`` and their self-occlusion flags.

    The annotation is the **projected 3-D point**, except for the jaw contour with
    ``jaw_outline`` (the default): where the jaw goes behind the cheek of a turned face, its
    points are moved onto the visible outline, as iBUG-68/300W annotators place them
    (:func:`otmark.synth.silhouette.silhouette_points`; a moved point keeps the flag of its 3-D
    point, which the cheek hides). A point is
    flagged self-occluded when its surface faces away from the camera (:func:`facing_camera`
    with the normals of :func:`otmark.synth.face_model.surface_normals`) or when it lies behind
    the nose (inside the projected convex hull of :func:`otmark.synth.face_model.nose_points`
    and deeper than the nose tip).

    Returns:
        landmarks ``(K, 2)`` float64 pixels, occluded ``(K,)`` bool.
    """
    specs = scheme_specs(get_scheme(scheme))
    pts3 = evaluate_specs(face, specs)
    normals = surface_normals(face, pts3, specs)
    rot = rotation_matrix(pose)
    uv = project(pts3, pose, camera, rot)
    hidden = ~facing_camera(pts3, normals, pose, camera, rot=rot)
    hull = convex_hull(project(nose_points(face), pose, camera, rot))
    tip_depth = to_camera(face.point("nose_tip")[None], pose, camera, rot)[0, 2]
    depth = to_camera(pts3, pose, camera, rot)[:, 2]
    is_nose = np.array([spec[0][0] in ("nose_bridge", "nose_base") for spec in specs])
    behind_nose = points_in_polygon(uv, hull) & (depth > tip_depth + 0.05) & ~is_nose
    hidden = hidden | behind_nose
    on_jaw = [k for k, spec in enumerate(specs) if len(spec) == 1 and spec[0][0] == "jaw"]
    if jaw_outline and on_jaw:
        ts = np.array([specs[k][0][1] for k in on_jaw])
        moved_uv, moved = silhouette_points(face, ts, lambda p: project(p, pose, camera, rot))
        idx = np.array(on_jaw)[moved]
        uv[idx] = moved_uv[moved]
    return uv, hidden
