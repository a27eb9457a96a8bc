"""Generated group photographs: faces of the asked sizes, apart, annotated, reproducible."""

import numpy as np
import pytest

from otmark.synth.camera import project
from otmark.synth.face_model import face_box_points
from otmark.synth.group import ROOM, group_photo
from otmark.transforms import tight_box


@pytest.fixture(scope="module")
def photo():
    return group_photo(
        np.random.default_rng(3), sides=(50, 80, 36), size=(200, 320), schemes=("300w", "wflw")
    )


def test_faces_have_the_asked_sizes_and_lie_apart(photo):
    assert photo.image.shape == (200, 320, 3) and photo.image.dtype == np.uint8
    assert len(photo.landmarks) == len(photo.scenes) == 3
    rooms = []
    for side, sc in zip((50, 80, 36), photo.scenes):
        uv = project(face_box_points(sc.face), sc.pose, sc.camera)
        assert (uv.max(0) - uv.min(0)).max() == pytest.approx(side, rel=1e-6)
        assert np.all(uv >= -0.5) and np.all(uv <= [319.5, 199.5])
        # the room around the face box (which sits 0.1 side below the room's centre)
        c = (uv.max(0) + uv.min(0)) / 2 - [0.0, 0.1 * side]
        half = np.multiply(ROOM, side) / 2
        rooms.append(np.r_[c - half, c + half])
    for i in range(3):
        for j in range(i):
            a, b = rooms[i], rooms[j]
            tol = 1e-6
            assert (
                a[2] <= b[0] + tol or b[2] <= a[0] + tol or a[3] <= b[1] + tol or b[3] <= a[1] + tol
            )


def test_landmarks_and_boxes_agree(photo):
    for marks, box in zip(photo.landmarks, photo.boxes):
        assert marks["300w"].shape == (68, 2) and marks["wflw"].shape == (98, 2)
        np.testing.assert_array_equal(box, tight_box(marks["300w"]))
    # the largest face has the largest landmark box
    sides = (photo.boxes[:, 2:] - photo.boxes[:, :2]).max(1)
    assert sides.argmax() == 1 and sides.argmin() == 2


def test_same_rng_same_photo_and_clear_errors():
    a = group_photo(np.random.default_rng(5), sides=(40, 30), size=(120, 200))
    b = group_photo(np.random.default_rng(5), sides=(40, 30), size=(120, 200))
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.boxes, b.boxes)
    with pytest.raises(ValueError, match="does not fit"):
        group_photo(np.random.default_rng(0), sides=(100,), size=(120, 200))
    with pytest.raises(ValueError, match="cannot place"):
        group_photo(np.random.default_rng(0), sides=(60, 60, 60), size=(120, 200))
    with pytest.raises(ValueError, match="positive"):
        group_photo(np.random.default_rng(0), sides=(40, -1))
