import numpy as np
import pytest

from otmark.schemes import get_scheme
from otmark.synth.camera import (
    PIVOT,
    Camera,
    Pose,
    annotate,
    convex_hull,
    facing_camera,
    points_in_polygon,
    project,
    rotation_matrix,
)
from otmark.synth.face_model import Expression, Face, Identity


def test_projection_closed_form():
    cam = Camera(focal=100.0, cx=50.0, cy=40.0, distance=10.0, tx=0.5, ty=-1.0)
    pts = PIVOT + np.array([[1.0, 2.0, 0.0], [1.0, 0.0, 5.0], [0.0, 0.0, 0.0]])
    uv = project(pts, Pose(), cam)
    # X = x + tx, Y = y + ty, Z = distance - z
    np.testing.assert_allclose(uv[0], [50 + 100 * 1.5 / 10, 40 + 100 * 1.0 / 10])
    np.testing.assert_allclose(uv[1], [50 + 100 * 1.5 / 5, 40 + 100 * -1.0 / 5])
    np.testing.assert_allclose(uv[2], [50 + 100 * 0.5 / 10, 40 - 100 / 10])


@pytest.mark.parametrize("pose", [Pose(30, -20, 10), Pose(-75, 35, -40)])
def test_rotation_is_proper(pose):
    r = rotation_matrix(pose)
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(r) == pytest.approx(1.0)


def test_angle_signs():
    cam = Camera(focal=100.0, cx=0.0, cy=0.0, distance=10.0)
    front = PIVOT + np.array([[0.0, 0.0, 1.0]])  # a point in front of the pivot (like the nose)
    right = PIVOT + np.array([[1.0, 0.0, 0.0]])
    base = project(front, Pose(), cam)[0]
    assert project(front, Pose(yaw=20), cam)[0, 0] > base[0]  # yaw > 0: nose to larger x
    assert project(front, Pose(pitch=20), cam)[0, 1] > base[1]  # pitch > 0: nose down
    assert project(right, Pose(roll=20), cam)[0, 1] > project(right, Pose(), cam)[0, 1]


def test_polygon_and_hull_helpers():
    square = np.array([[0.0, 0.0], [4.0, 0.0], [4.0, 4.0], [0.0, 4.0]])
    pts = np.array([[1.0, 1.0], [5.0, 1.0], [2.0, 3.9], [-0.1, 2.0]])
    assert points_in_polygon(pts, square).tolist() == [True, False, True, False]
    cloud = np.vstack([square, [[1.0, 2.0], [2.0, 2.0], [3.0, 1.0]]])
    hull = convex_hull(cloud)
    assert sorted(map(tuple, hull)) == sorted(map(tuple, square))


def test_facing_camera_by_normal():
    cam = Camera(focal=100.0, cx=0.0, cy=0.0, distance=10.0)
    p = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    n = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, -1.0]])
    assert facing_camera(p, n, Pose(), cam).tolist() == [True, False]
    # a sideways normal (+x) faces the camera once the head turns that side towards it
    side = np.array([[1.0, 0.0, 0.0]])
    assert not facing_camera(p[:1], side, Pose(yaw=30), cam)[0]
    assert facing_camera(p[:1], side, Pose(yaw=-30), cam)[0]


def test_self_occlusion_follows_the_turn():
    face = Face(Identity(), Expression())
    cam = Camera(focal=800.0, cx=128.0, cy=128.0, distance=8.0)
    s = get_scheme("300w")
    _, occ0 = annotate(face, "300w", Pose(), cam)
    assert not occ0.any()  # a frontal neutral face shows all 68 points
    for yaw, far, near in ((60, "left", "right"), (-60, "right", "left")):
        _, occ = annotate(face, "300w", Pose(yaw=yaw), cam)
        names = {s.point_names[i] for i in np.nonzero(occ)[0]}
        assert f"jaw_{far}_00" in names and f"{far}_eye_outer" in names
        assert not any(n.startswith(near) or n.startswith(f"jaw_{near}") for n in names)
    # more turn, more hidden points
    counts = [annotate(face, "300w", Pose(yaw=y), cam)[1].sum() for y in (0, 30, 50, 75)]
    assert counts == sorted(counts) and counts[-1] > counts[1]


def test_nose_hides_the_far_inner_eye_corner():
    face = Face(Identity(), Expression())
    cam = Camera(focal=800.0, cx=128.0, cy=128.0, distance=8.0)
    s = get_scheme("300w")
    k = s.index("left_eye_inner")
    assert not annotate(face, "300w", Pose(yaw=20), cam)[1][k]
    assert annotate(face, "300w", Pose(yaw=70), cam)[1][k]
