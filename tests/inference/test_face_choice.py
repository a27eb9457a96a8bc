"""The face finders' choice among several faces (hand-made box lists), the merge of detections
across upsamplings, and the finders on a generated group photograph."""

from __future__ import annotations

import numpy as np
import pytest

from otmark.inference import (
    DlibHogFaceDetector,
    FaceFinder,
    choose_face_rule,
    dlib_available,
    haar_available,
    make_face_finder,
    merge_detections,
    read_results_json,
    write_results_json,
)
from otmark.inference.finders import box_iou
from otmark.inference.results import FrameResult
from otmark.synth.group import group_photo

needs_dlib = pytest.mark.skipif(not dlib_available(), reason="dlib not installed (otmark[faces])")
needs_haar = pytest.mark.skipif(not haar_available(), reason="this OpenCV has no Haar cascade")

SHAPE = (100, 200, 3)  # image centre (99.5, 49.5), half diagonal 111.8 px


def _box(cx, cy, side):
    return [cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2]


def test_one_box_is_chosen_as_the_only_face():
    assert choose_face_rule(np.array([_box(10, 10, 8)]), SHAPE) == (0, "only")


def test_size_comes_first():
    # a 40 px face in a corner beats a central 28 px one (area ratio 0.49 < 0.5)
    boxes = np.array([_box(100, 50, 28), _box(25, 25, 40)])
    assert choose_face_rule(boxes, SHAPE, scores=np.array([3.0, 0.1])) == (1, "size")


def test_centrality_decides_among_similar_sizes():
    # 40 and 32 px (ratio 0.64): the one 2 px from the centre beats the one 70 px away
    boxes = np.array([_box(170, 50, 40), _box(98, 52, 32)])
    assert choose_face_rule(boxes, SHAPE, scores=np.array([2.0, 0.5])) == (1, "centrality")


def test_score_decides_among_similar_sizes_equally_central():
    # both within 0.1 half diagonals (11 px) of the centre: the better detector score wins
    boxes = np.array([_box(95, 50, 40), _box(106, 48, 36), _box(20, 20, 40)])
    assert choose_face_rule(boxes, SHAPE, scores=np.array([0.2, 0.9, 5.0])) == (1, "score")
    # equal scores (or none): the nearest, and the rule says centrality
    assert choose_face_rule(boxes, SHAPE, scores=np.array([1.0, 1.0, 1.0])) == (0, "centrality")
    assert choose_face_rule(boxes, SHAPE) == (0, "centrality")
    with pytest.raises(ValueError, match="3 boxes but 2 scores"):
        choose_face_rule(boxes, SHAPE, scores=np.array([1.0, 2.0]))


def test_merge_keeps_the_best_scored_box_of_each_face_largest_first():
    boxes = np.array(
        [
            [10, 10, 50, 50],  # face A, upsampling 0
            [12, 11, 51, 52],  # face A again (IoU 0.87), better score
            [100, 10, 120, 30],  # face B
            [60, 60, 70, 70],  # face C
        ],
        dtype=float,
    )
    scores = np.array([0.5, 0.9, 0.3, 0.1])
    kept, s = merge_detections(boxes, scores)
    np.testing.assert_array_equal(kept, boxes[[1, 2, 3]])
    np.testing.assert_array_equal(s, [0.9, 0.3, 0.1])
    # boxes overlapping less than the threshold are both kept
    apart, _ = merge_detections(boxes[[0, 3]], scores[[0, 3]])
    assert len(apart) == 2
    empty, es = merge_detections(np.zeros((0, 4)), np.zeros(0))
    assert empty.shape == (0, 4) and es.shape == (0,)


class StubFinder:
    """A raw finder returning fixed boxes and scores."""

    def __init__(self, boxes, scores):
        self.boxes, self.scores = np.asarray(boxes, float), np.asarray(scores, float)

    def detect(self, image):
        return self.boxes, self.scores


def test_face_finder_reports_the_chosen_face_first_and_the_rule():
    stub = StubFinder([_box(25, 25, 20), _box(100, 50, 44), _box(180, 80, 10)], [1, 2, 3])
    image = np.zeros(SHAPE, np.uint8)
    found = FaceFinder(stub, all_faces=True).find(image)
    np.testing.assert_array_equal(found.boxes, stub.boxes[[1, 0, 2]])
    np.testing.assert_array_equal(found.scores, [2, 1, 3])
    assert found.chosen_by == "size"
    one = FaceFinder(stub).find(image)
    assert len(one.boxes) == 1 and one.chosen_by == "size"
    # a plain callable has no scores
    plain = FaceFinder(lambda im: stub.boxes[:1], all_faces=True).find(image)
    assert plain.chosen_by == "only" and plain.scores.tolist() == [0.0]
    none = FaceFinder(lambda im: np.zeros((0, 4))).find(image)
    assert none.boxes.shape == (0, 4) and none.chosen_by is None


def test_detector_records_the_rule_and_json_keeps_it(tmp_path):
    import torch

    from otmark.heatmaps import HeatmapCodec
    from otmark.inference import Detector

    stub = StubFinder([_box(60, 50, 44), _box(170, 50, 40)], [1.0, 2.0])
    codec = HeatmapCodec(32, 8, decoder="get_max", softmax=True)
    det = Detector(
        lambda x: torch.zeros(x.shape[0], 19, 8, 8),
        "aflw",
        codec,
        face_finder=FaceFinder(stub, all_faces=True),
        passes=1,
    )
    faces = det.detect(np.zeros(SHAPE, np.uint8))
    assert [f.chosen_by for f in faces] == ["centrality", None]
    path = write_results_json(
        tmp_path / "r.json", [FrameResult("a.png", None, 200, 100, faces)], "aflw", 19
    )
    _, (back,) = read_results_json(path)
    assert [f.chosen_by for f in back.faces] == ["centrality", None]
    # given boxes: nothing was chosen
    assert det.detect(np.zeros(SHAPE, np.uint8), stub.boxes)[0].chosen_by is None


@pytest.fixture(scope="module")
def group():
    """Three faces, face-box sides 60, 96 and 40 px, in a 380x250 photograph."""
    return group_photo(np.random.default_rng(9), sides=(60, 96, 40), size=(250, 380), max_yaw=8.0)


def _matches(found: np.ndarray, truth: np.ndarray, min_iou: float = 0.5) -> np.ndarray:
    """For each true box, the index of the found box that overlaps it best (-1: none)."""
    if len(found) == 0:
        return np.full(len(truth), -1)
    iou = box_iou(truth, found)
    best = iou.argmax(axis=1)
    return np.where(iou.max(axis=1) >= min_iou, best, -1)


@pytest.mark.parametrize(
    "name", [pytest.param("haar", marks=needs_haar), pytest.param("dlib", marks=needs_dlib)]
)
def test_all_faces_of_a_group_photograph_and_the_largest_by_default(group, name):
    finder = make_face_finder(name, all_faces=True, notify=pytest.fail)
    boxes, scores = finder.raw.detect(group.image)  # found once, chosen twice below
    every = FaceFinder(StubFinder(boxes, scores), all_faces=True).find(group.image)
    match = _matches(every.boxes, group.boxes)
    assert np.all(match >= 0), (every.boxes, group.boxes)
    assert len(every.boxes) == 3
    assert match[1] == 0 and every.chosen_by == "size"  # the 96 px face, reported first
    one = FaceFinder(StubFinder(boxes, scores)).find(group.image)  # the default: one face
    np.testing.assert_array_equal(one.boxes, every.boxes[:1])


@needs_dlib
def test_dlib_finder_finds_whatever_dlib_finds_at_each_upsampling(group):
    finder = DlibHogFaceDetector(adapt=False)
    ours, _ = finder.detect(group.image)
    steps = finder.upsample_steps(group.image.shape)
    assert steps == 2  # 36 px faces in a 380x250 photograph
    for up in range(steps + 1):
        direct, _ = finder.run(group.image, up)
        assert np.all(_matches(ours, direct, min_iou=0.6) >= 0), up
