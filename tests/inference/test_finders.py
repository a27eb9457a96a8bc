"""The video schedule of the face finder: the cascade of scales, the search near a tracked face
and the tracker's use of both, with a fake HOG detector that counts its runs per upsampling.

The fake sees white squares: a square of side ``s`` pixels is found at upsampling ``u`` when
``s * 2**u >= 80`` (dlib's 80-pixel window), as dlib's box of the square's pixels, in the
coordinates of the image it was given (dlib maps its upsampled boxes back the same way).
"""

from __future__ import annotations

from collections import Counter

import cv2
import numpy as np
import pytest
import torch

from otmark.heatmaps import HeatmapCodec
from otmark.inference import Detector
from otmark.inference.boxes import adapt_boxes
from otmark.inference.finders import (
    DLIB_HOG_ADAPTATION,
    NEAR_FACE,
    DlibHogFaceDetector,
    FaceFinder,
    find_cascade,
    find_near,
    find_video_faces,
    near_region,
)
from otmark.inference.tracking import FaceTracker
from otmark.schemes import get_scheme


class _Rect:
    def __init__(self, x0: int, y0: int, x1: int, y1: int) -> None:
        self._v = (x0, y0, x1, y1)

    def left(self) -> int:
        return self._v[0]

    def top(self) -> int:
        return self._v[1]

    def right(self) -> int:
        return self._v[2]

    def bottom(self) -> int:
        return self._v[3]


class FakeHog:
    """dlib's ``run(image, upsample, threshold)`` on white squares; records every run as
    ``(upsample, image height, image width)``."""

    def __init__(self) -> None:
        self.runs: list[tuple[int, int, int]] = []

    def run(self, image: np.ndarray, upsample: int, threshold: float):
        self.runs.append((upsample, image.shape[0], image.shape[1]))
        mask = (image[..., 0] > 127).astype(np.uint8)
        n, _, stats, _ = cv2.connectedComponentsWithStats(mask)
        rects, scores = [], []
        for x, y, w, h, _area in stats[1:n]:
            if min(w, h) * 2**upsample >= DlibHogFaceDetector.WINDOW:
                rects.append(_Rect(x, y, x + w - 1, y + h - 1))
                scores.append(1.0)
        return rects, scores, [0] * len(rects)

    def upsamplings(self) -> Counter:
        return Counter(u for u, _, _ in self.runs)


def fake_finder(**kw) -> tuple[DlibHogFaceDetector, FakeHog]:
    hog = FakeHog()
    return DlibHogFaceDetector(hog=hog, **kw), hog


def frame(squares, shape=(480, 640)) -> np.ndarray:
    """A black frame with white squares ``(x0, y0, side)``."""
    img = np.zeros((*shape, 3), np.uint8)
    for x0, y0, side in squares:
        img[y0 : y0 + side, x0 : x0 + side] = 255
    return img


def square_box(x0: float, y0: float, side: float) -> np.ndarray:
    """The finder's (adapted) box of a square: dlib's box is the square's pixel edges."""
    dlib_box = np.array([[x0 - 0.5, y0 - 0.5, x0 + side - 0.5, y0 + side - 0.5]])
    return adapt_boxes(dlib_box, DLIB_HOG_ADAPTATION)[0]


# --- the cascade --------------------------------------------------------------------------------


def test_cascade_levels_suit_the_frame_size():
    finder, _ = fake_finder()
    assert finder.cascade_levels((480, 640, 3)) == [0, 1, 2]  # a face of 80 px: upsampling 0
    assert finder.cascade_levels((240, 320, 3)) == [1, 2]  # 40 px: once upsampled first
    # 1080p: halved first (a face of 180 px is 90 px there); 2 MP allows no upsampling
    assert finder.cascade_levels((1080, 1920, 3)) == [-1, 0]
    assert finder.cascade_levels((2160, 3840, 3)) == [-2, -1, 0]
    assert finder.cascade_levels((60, 60, 3)) == [2]  # never beyond the photograph's last


@pytest.mark.parametrize(
    ("side", "upsamplings"),
    [(120, [0]), (50, [0, 1]), (30, [0, 1, 2]), (None, [0, 1, 2])],
)
def test_cascade_goes_up_only_while_nothing_is_found(side, upsamplings):
    finder, hog = fake_finder()
    image = frame([] if side is None else [(300, 200, side)])
    boxes, _ = finder.detect_cascade(image)
    assert [u for u, _, _ in hog.runs] == upsamplings
    if side is None:
        assert boxes.shape == (0, 4)
    else:
        np.testing.assert_allclose(boxes, [square_box(300, 200, side)])


def test_the_photograph_path_still_merges_every_upsampling():
    finder, hog = fake_finder()
    image = frame([(300, 200, 120), (40, 40, 30)])
    boxes = finder(image)
    assert hog.upsamplings() == Counter({0: 1, 1: 1, 2: 1})
    np.testing.assert_allclose(boxes, [square_box(300, 200, 120), square_box(40, 40, 30)])
    # the cascade stops at upsampling 0, where it finds the large face only
    hog.runs.clear()
    np.testing.assert_allclose(find_cascade(finder, image)[0], [square_box(300, 200, 120)])
    assert hog.upsamplings() == Counter({0: 1})


def test_a_downscaled_level_maps_its_boxes_back():
    finder, hog = fake_finder()
    image = frame([(800, 300, 400)], shape=(1080, 1920))
    boxes, _ = finder.detect_cascade(image)
    assert hog.runs == [(0, 540, 960)]  # halved, found there
    np.testing.assert_allclose(boxes, [square_box(800, 300, 400)], atol=1e-9)


# --- near a tracked face ------------------------------------------------------------------------


def test_near_region_is_the_box_enlarged_twice_clipped():
    assert near_region(np.array([100, 100, 140, 120]), (480, 640)) == (80, 70, 161, 151)
    assert near_region(np.array([-30, 400, 30, 460]), (480, 640)) == (0, 370, 61, 480)
    assert near_region(np.array([900, 100, 950, 150]), (480, 640)) == (640, 75, 640, 176)
    with pytest.raises(ValueError, match="enlarge"):
        near_region(np.array([0, 0, 10, 10]), (20, 20), enlarge=0)


@pytest.mark.parametrize(
    ("side", "level"),
    # 40 px: 2 upsamplings (160 px); 60: 1 (120); 110: none; 300: halved (150 px)
    [(40, 2), (60, 1), (110, 0), (300, -1)],
)
def test_find_near_runs_once_on_the_region_at_the_face_s_scale(side, level):
    finder, hog = fake_finder()
    image = frame([(100, 60, side), (620 - 30, 420, 30)])  # and a small face far away
    track = square_box(100, 60, side)
    assert finder.level_for_face(track[3] - track[1]) == level
    assert NEAR_FACE <= side * 2.0**level < 2 * NEAR_FACE
    boxes, scores = find_near(finder, image, track)
    ((upsample, h, w),) = hog.runs
    assert upsample == max(level, 0)
    x0, y0, x1, y1 = near_region(track, image.shape)
    assert (x1 - x0, y1 - y0) == pytest.approx((2 * (track[2] - track[0]),) * 2, abs=2) or (
        level < 0  # 300 px: the region reaches the frame's edges
    )
    assert (h, w) == pytest.approx(np.array([y1 - y0, x1 - x0]) * 2.0 ** min(level, 0), abs=1)
    np.testing.assert_allclose(boxes, [track], atol=0.02 * side)
    assert scores.tolist() == [1.0]


def test_find_near_puts_the_tracked_face_first_and_works_with_any_finder():
    # a larger face beside the tracked one, inside the region (the box enlarged 5 times)
    image = frame([(300, 200, 50), (215, 260, 70)])
    track = square_box(300, 200, 50)
    finder, _ = fake_finder()
    boxes, _ = find_near(finder, image, track, enlarge=5)
    assert len(boxes) == 2 and np.allclose(boxes[0], track, atol=1)
    np.testing.assert_allclose(boxes[1], square_box(215, 260, 70), atol=1)

    def white_squares(img):  # a plain callable finder (boxes only)
        return finder(img)

    plain, scores = find_near(white_squares, image, track, enlarge=5)
    np.testing.assert_allclose(plain, boxes, atol=2)
    assert scores.tolist() == [0.0, 0.0]
    empty = frame([])
    assert find_near(finder, empty, track)[0].shape == (0, 4)


# --- the schedule -------------------------------------------------------------------------------


def test_video_schedule_near_first_then_the_whole_frame():
    finder, hog = fake_finder()
    image = frame([(300, 200, 120)])
    track = square_box(300, 200, 120)
    one = FaceFinder(finder, all_faces=False)
    # the tracked face confirmed near its box: one small run, no whole-frame search
    np.testing.assert_allclose(find_video_faces(one, image, track[None], room=False), [track])
    assert len(hog.runs) == 1 and hog.runs[0][1] < 480
    # the face moved away (a cut): the region is empty, then the cascade finds it
    hog.runs.clear()
    moved = frame([(20, 20, 120)])
    np.testing.assert_allclose(
        find_video_faces(one, moved, track[None], room=False), [square_box(20, 20, 120)]
    )
    assert [r[0] for r in hog.runs] == [0, 0] and hog.runs[1][1:] == (480, 640)
    # nothing tracked: the cascade
    hog.runs.clear()
    np.testing.assert_allclose(find_video_faces(one, image), [track])
    assert hog.runs == [(0, 480, 640)]


def test_video_schedule_near_two_tracks_keeps_each_face_once():
    finder, hog = fake_finder()
    image = frame([(200, 200, 100), (330, 200, 100)])
    tracks = np.stack([square_box(200, 200, 100), square_box(330, 200, 100)])
    every = FaceFinder(finder, all_faces=True)
    boxes = find_video_faces(every, image, tracks, room=False)
    assert len(hog.runs) == 2  # one run near each track, no whole-frame search
    np.testing.assert_allclose(np.sort(boxes[:, 0]), np.sort(tracks[:, 0]), atol=1e-9)
    # two tracks that drifted onto one face: it is found near both, reported once
    twice = np.stack([tracks[0], tracks[0] + 8])
    np.testing.assert_allclose(find_video_faces(every, image, twice, room=False), tracks[:1])


def test_video_schedule_with_room_adds_new_faces():
    finder, hog = fake_finder()
    image = frame([(300, 200, 120), (20, 20, 100)])
    track = square_box(300, 200, 120)
    both = find_video_faces(FaceFinder(finder, all_faces=True), image, track[None], room=True)
    assert len(both) == 2 and np.allclose(both[0], track)  # the larger one chosen first
    assert len(hog.runs) == 2  # near the track, then the whole frame


def test_a_plain_callable_is_called_on_the_whole_frame():
    shapes = []

    def fixed(img):
        shapes.append(img.shape)
        return np.array([[10.0, 10, 50, 50]])

    image = frame([])
    out = find_video_faces(fixed, image, np.array([[100.0, 100, 150, 150]]), room=False)
    np.testing.assert_array_equal(out, [[10, 10, 50, 50]])
    assert shapes == [image.shape]


# --- the tracker --------------------------------------------------------------------------------

SCHEME = "aflw"
K = get_scheme(SCHEME).num_points
CODEC = HeatmapCodec(input_size=64, heatmap_size=16, sigma=1.5, decoder="get_bc", softmax=True)


def square_backend(crops: torch.Tensor) -> torch.Tensor:
    """Logits ``(B, K, 16, 16)`` of a "face" that is the white pixels of each ``(B, 3, 64, 64)``
    crop: its landmarks on a circle of the same area around their centre; flat without white
    pixels (not confident: the face is lost)."""
    m, stride = CODEC.heatmap_size, CODEC.input_size / CODEC.heatmap_size
    hy, hx = torch.meshgrid(torch.arange(float(m)), torch.arange(float(m)), indexing="ij")
    out = torch.zeros(crops.shape[0], K, m, m)
    angles = np.linspace(0.0, 2.0 * np.pi, K, endpoint=False)
    for b, crop in enumerate(crops):
        mask = crop[0] > 1.5
        if not mask.any():
            continue
        v, u = torch.nonzero(mask, as_tuple=True)
        radius = float(np.sqrt(mask.sum().item() / np.pi))
        for k, a in enumerate(angles):
            px = (u.float().mean() + radius * np.cos(a) + 0.5) / stride - 0.5
            py = (v.float().mean() + radius * np.sin(a) + 0.5) / stride - 0.5
            out[b, k] = -((hx - px) ** 2 + (hy - py) ** 2) / (2 * CODEC.sigma**2)
    return out


def test_tracker_confirms_near_the_track_and_searches_the_frame_after_a_cut():
    finder, hog = fake_finder()
    det = Detector(square_backend, SCHEME, CODEC, face_finder=FaceFinder(finder))
    det.max_roll = None
    tracker = FaceTracker(det, redetect_every=4, max_faces=1)
    frames = [frame([(200 + 4 * i, 150, 120)]) for i in range(6)]
    frames.append(frame([(500, 300, 120)]))  # a cut: the face jumps away
    runs_per_frame = []
    for img in frames:
        before = len(hog.runs)
        step = tracker(img)
        runs_per_frame.append(hog.runs[before:])
        assert len(step.faces) == 1
    # frame 0: the whole frame (cascade, found at upsampling 0); 1-3: no finder
    assert runs_per_frame[0] == [(0, 480, 640)]
    assert runs_per_frame[1:4] == [[], [], []]
    # frame 4, the periodic confirmation: once, on the region around the track (2 x 120 px)
    ((up, h, w),) = runs_per_frame[4]
    assert up == 0 and h < 270 and w < 270
    assert runs_per_frame[5] == []
    # frame 6: the track is lost; its region is empty, then the whole frame
    assert [r[1:] == (480, 640) for r in runs_per_frame[6]] == [False, True]
    centre = tracker._tracks[0].landmarks.mean(axis=0)
    np.testing.assert_allclose(centre, [559.5, 359.5], atol=2)


# --- dlib itself --------------------------------------------------------------------------------


class CountingHog:
    """dlib's detector, its runs recorded as ``(upsample, height, width)``."""

    def __init__(self, hog) -> None:
        self.hog, self.runs = hog, []

    def run(self, image, upsample, threshold):
        self.runs.append((upsample, image.shape[0], image.shape[1]))
        return self.hog.run(image, upsample, threshold)


def test_dlib_video_schedule_on_a_generated_frame():
    dlib = pytest.importorskip("dlib")
    from otmark.synth.domains import get_domain
    from otmark.synth.generate import synth_face
    from otmark.transforms import tight_box

    r = synth_face(get_domain("300w"), np.random.default_rng(0), ("300w",), (192, 192))
    canvas = np.full((480, 640, 3), 100, np.uint8)
    canvas[150:342, 250:442] = r.image
    truth = tight_box(r.landmarks["300w"]) + [250, 150, 250, 150]
    hog = CountingHog(dlib.get_frontal_face_detector())
    finder = DlibHogFaceDetector(hog=hog)

    def iou(a, b):
        lo, hi = np.maximum(a[:2], b[:2]), np.minimum(a[2:], b[2:])
        inter = np.prod(np.clip(hi - lo, 0, None))
        return inter / (np.prod(a[2:] - a[:2]) + np.prod(b[2:] - b[:2]) - inter)

    (found,), _ = finder.detect_cascade(canvas)
    assert hog.runs == [(0, 480, 640)] and iou(found, truth) > 0.6
    hog.runs.clear()
    (near,), _ = find_near(finder, canvas, truth)
    ((_, h, w),) = hog.runs
    assert h * w < 0.5 * 480 * 640 and iou(near, truth) > 0.6
