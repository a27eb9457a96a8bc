"""Face finders: the choice among several faces, the fallback when dlib is missing, and dlib's
HOG detector on generated faces (colour, grayscale, small, several faces)."""

from __future__ import annotations

import builtins

import cv2
import numpy as np
import pytest

from otmark.inference import (
    DlibHogFaceDetector,
    HaarFaceDetector,
    build_finder,
    choose_face,
    dlib_available,
    haar_available,
    make_face_finder,
    select_faces,
)
from otmark.synth.domains import get_domain
from otmark.synth.generate import synth_face
from otmark.transforms import tight_box

needs_dlib = pytest.mark.skipif(not dlib_available(), reason="dlib not installed (otmark[faces])")


def _box(cx, cy, side):
    return [cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2]


def test_choose_face_prefers_the_largest():
    # 200 x 100 image; a small face at the centre, a 4x larger one in a corner
    boxes = np.array([_box(100, 50, 20), _box(20, 20, 40)])
    assert choose_face(boxes, (100, 200, 3)) == 1


def test_choose_face_prefers_the_most_central_of_similar_size():
    # areas 40^2 and 32^2 (ratio 0.64 >= 0.5): the central one wins although smaller
    boxes = np.array([_box(25, 25, 40), _box(98, 52, 32), _box(170, 50, 40)])
    assert choose_face(boxes, (100, 200, 3)) == 1
    # equal boxes equally far from the centre: the first
    tie = np.array([_box(50, 50, 30), _box(150, 50, 30)])
    assert choose_face(tie, (100, 201, 3)) == 0
    with pytest.raises(ValueError):
        choose_face(np.zeros((0, 4)), (10, 10))


def test_select_faces_one_or_all_chosen_first():
    boxes = np.array([_box(20, 20, 40), _box(100, 50, 44), _box(180, 80, 10)])
    np.testing.assert_array_equal(select_faces(boxes, (100, 200), False), boxes[[1]])
    np.testing.assert_array_equal(select_faces(boxes, (100, 200), True), boxes[[1, 0, 2]])
    assert select_faces(np.zeros((0, 4)), (100, 200), False).shape == (0, 4)


def test_unknown_finder_name():
    with pytest.raises(ValueError, match="auto, dlib, haar"):
        build_finder("yolo")


@pytest.mark.skipif(not haar_available(), reason="this OpenCV build has no Haar cascade")
@pytest.mark.parametrize("name", ["auto", "dlib"])
def test_missing_dlib_names_the_extra_then_falls_back_to_haar(monkeypatch, name):
    real_import = builtins.__import__

    def no_dlib(mod, *args, **kwargs):
        if mod == "dlib":
            raise ImportError("No module named 'dlib'")
        return real_import(mod, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_dlib)
    notes: list[str] = []
    finder = build_finder(name, notify=notes.append)
    assert isinstance(finder, HaarFaceDetector)
    assert len(notes) == 1 and "pip install 'otmark[faces]'" in notes[0]
    assert isinstance(build_finder("haar", notify=notes.append), HaarFaceDetector)
    assert len(notes) == 1  # asking for Haar is not a fallback


def _face(seed: int, size=(256, 256)):
    r = synth_face(get_domain("300w"), np.random.default_rng(seed), ("300w",), size)
    return r.image, tight_box(r.landmarks["300w"])


def _iou(a, b):
    lo, hi = np.maximum(a[:2], b[:2]), np.minimum(a[2:], b[2:])
    inter = np.prod(np.clip(hi - lo, 0, None))
    area = lambda x: (x[2] - x[0]) * (x[3] - x[1])  # noqa: E731
    return inter / (area(a) + area(b) - inter)


@needs_dlib
@pytest.mark.parametrize("seed", [0, 3, 10])  # yaw 4, -4 and -33 degrees
def test_dlib_finds_colour_and_grayscale_faces(seed):
    image, truth = _face(seed)
    gray = np.repeat(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    finder = DlibHogFaceDetector()
    for img in (image, gray):
        boxes = finder(img)
        assert len(boxes) == 1
        assert _iou(boxes[0], truth) > 0.6


@needs_dlib
def test_dlib_finds_a_small_face():
    image, truth = _face(1)
    side = 40  # face box ~40 px in a 320 px canvas: needs upsampling
    k = side / 256
    small = cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA)
    canvas = np.full((320, 320, 3), 90, dtype=np.uint8)
    canvas[200 : 200 + side, 30 : 30 + side] = small
    moved = (truth + 0.5) * k - 0.5 + [30, 200, 30, 200]
    boxes = DlibHogFaceDetector()(canvas)
    assert len(boxes) >= 1
    assert max(_iou(b, moved) for b in boxes) > 0.4


@needs_dlib
def test_dlib_picks_the_larger_face_of_a_composite_and_all_faces_gives_both():
    big, big_truth = _face(0)
    small, small_truth = _face(2, size=(128, 128))
    canvas = np.full((300, 460, 3), 120, dtype=np.uint8)
    canvas[20:276, 190:446] = big  # right, large
    canvas[150:278, 10:138] = small  # left, half the side
    big_truth = big_truth + [190, 20, 190, 20]
    small_truth = small_truth + [10, 150, 10, 150]
    (one,) = make_face_finder("dlib", notify=pytest.fail)(canvas)
    assert _iou(one, big_truth) > 0.6
    both = make_face_finder("dlib", all_faces=True, notify=pytest.fail)(canvas)
    assert len(both) == 2
    assert _iou(both[0], big_truth) > 0.6 and _iou(both[1], small_truth) > 0.5


@needs_dlib
def test_upsampling_steps_follow_min_face_and_the_pixel_cap():
    finder = DlibHogFaceDetector(min_face=36, max_upsample=2, max_pixels=4_000_000)
    assert finder.upsample_steps((375, 500, 3)) == 2  # 80 / 36 -> 2 steps; 3.0 MP after
    assert finder.upsample_steps((512, 512, 3)) == 1  # 2 steps would give 4.19 MP
    assert finder.upsample_steps((1545, 1986, 3)) == 0  # already 3.1 MP
    assert DlibHogFaceDetector(min_face=80).upsample_steps((100, 100)) == 0
    assert DlibHogFaceDetector(min_face=39).upsample_steps((100, 100)) == 2  # 80/39 > 2


@needs_dlib
def test_dlib_on_a_blank_image_finds_nothing():
    assert DlibHogFaceDetector()(np.full((120, 160, 3), 128, dtype=np.uint8)).shape == (0, 4)
