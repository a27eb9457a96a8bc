"""The jaw contour of a turned generated face lies on the visible outline (300W convention)."""

import numpy as np
import pytest

from otmark.schemes import get_scheme
from otmark.synth.camera import Camera, Pose, annotate, project, rotation_matrix, to_camera
from otmark.synth.face_model import Expression, Face, Identity
from otmark.synth.silhouette import dome_points, silhouette_points

CAM = Camera(focal=800.0, cx=128.0, cy=128.0, distance=8.0)
FACE = Face(Identity(), Expression())
JAW = np.arange(17)  # 300W points 0-16: jaw t = k / 16, 0 = image left on a frontal face


def _dome_normal_cosine(face, t: float, s: float, pose: Pose) -> float:
    """Cosine between the dome's normal at (t, s) and the ray to the camera, by finite
    differences (0 on the silhouette)."""
    rot = rotation_matrix(pose)
    e = 1e-4

    def cam_point(tt: float, ss: float) -> np.ndarray:
        p = dome_points(face.curve("jaw", [tt]), np.array([ss]))[0]
        return to_camera(p, pose, CAM, rot)[0]

    c = cam_point(t, s)
    ds = cam_point(t, s + e) - cam_point(t, s - e)
    dt = cam_point(t + e, s) - cam_point(t - e, s)
    n = np.cross(ds, dt)
    return float(abs(n @ c) / (np.linalg.norm(n) * np.linalg.norm(c)))


def test_frontal_face_keeps_the_projected_jaw():
    on, _ = annotate(FACE, "300w", Pose(), CAM)
    off, _ = annotate(FACE, "300w", Pose(), CAM, jaw_outline=False)
    np.testing.assert_allclose(on, off)


@pytest.mark.parametrize("yaw", [45.0, -60.0])
def test_far_side_jaw_moves_out_onto_the_outline(yaw):
    pose = Pose(yaw=yaw)
    on, _ = annotate(FACE, "300w", pose, CAM)
    off, occluded = annotate(FACE, "300w", pose, CAM, jaw_outline=False)
    far = JAW[9:] if yaw > 0 else JAW[:8]  # positive yaw turns the face to the image's right
    near = JAW[:7] if yaw > 0 else JAW[10:]
    # the near side is the rim itself
    np.testing.assert_allclose(on[near], off[near])
    # the far side moves outwards (towards the far image edge), by pixels, not by rounding
    sign = 1.0 if yaw > 0 else -1.0
    shift = sign * (on[far, 0] - off[far, 0])
    assert shift.min() >= -1e-9 and shift.max() > 3.0
    # the points that moved are those whose 3-D point the cheek hides, and the others stay
    moved = np.linalg.norm(on - off, axis=1) > 1e-9
    assert moved[JAW][occluded[JAW]].any() and not moved[17:].any()
    # the outline's extreme column, from a dense projection of the dome
    grid = dome_points(
        FACE.curve("jaw", np.linspace(0, 1, 401)), np.linspace(0.0, 1.0, 201)
    ).reshape(-1, 3)
    uv = project(grid, pose, CAM)
    outermost = uv[:, 0].max() if yaw > 0 else uv[:, 0].min()
    # the widest moved point reaches the outline's extreme column within a pixel
    reach = on[far, 0].max() if yaw > 0 else on[far, 0].min()
    assert abs(reach - outermost) < 1.0


@pytest.mark.parametrize("yaw", [40.0, -55.0])
def test_moved_points_are_where_the_surface_grazes_the_view(yaw):
    """On the silhouette the dome's normal is perpendicular to the ray from the camera."""
    pose = Pose(yaw=yaw)
    t = np.array([0.8, 0.9]) if yaw > 0 else np.array([0.1, 0.2])
    _, moved = silhouette_points(FACE, t, lambda p: project(p, pose, CAM))
    assert moved.all()
    s = np.linspace(0.3, 1.0, 57)
    for tk in t:
        uv = project(dome_points(FACE.curve("jaw", [tk]), s)[0], pose, CAM)
        got = silhouette_points(FACE, np.array([tk]), lambda p: project(p, pose, CAM))[0][0]
        j = int(np.argmin(np.linalg.norm(uv - got, axis=1)))
        cos_sil = _dome_normal_cosine(FACE, tk, s[j], pose)
        cos_rim = _dome_normal_cosine(FACE, tk, 0.999, pose)
        assert cos_sil < 0.1 < cos_rim


def test_generated_jaw_of_every_scheme_with_a_contour():
    # WFLW's 33-point contour follows the same rule: the far-side points move, the rest stay
    pose = Pose(yaw=50.0)
    on, _ = annotate(FACE, "wflw", pose, CAM)
    off, _ = annotate(FACE, "wflw", pose, CAM, jaw_outline=False)
    s = get_scheme("wflw")
    moved = np.linalg.norm(on - off, axis=1) > 1e-9
    names = [s.point_names[k] for k in np.flatnonzero(moved)]
    assert names and all(n.startswith("jaw_") or n == "chin" for n in names)
