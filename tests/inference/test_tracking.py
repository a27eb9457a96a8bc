"""Tracking in video with a model whose answer is known: a white disc is the "face".

The stub backend finds the white pixels of each crop and answers heatmaps that are the log of
the training target (a normalised Gaussian) on points spread around the disc, or flat heatmaps
when the crop holds no white pixel. The stub face finder returns the box of the white pixels.
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from otmark.heatmaps import HeatmapCodec
from otmark.inference import Detector, run_detection
from otmark.inference.sources import Frame
from otmark.inference.tracking import (
    FaceTracker,
    VideoOptions,
    box_iou,
    frame_ranges,
    heatmap_confidence,
    placement_from_landmarks,
    target_peak,
)
from otmark.schemes import get_scheme
from otmark.transforms import centre_scale_from_landmarks

SCHEME = "aflw"
K = get_scheme(SCHEME).num_points
CODEC = HeatmapCodec(input_size=64, heatmap_size=16, sigma=1.5, decoder="get_bc", softmax=True)
ANGLES = np.linspace(0.0, 2.0 * np.pi, K, endpoint=False)


def disc_backend(crops: torch.Tensor) -> torch.Tensor:
    """``(B, 3, 64, 64)`` normalised crops -> ``(B, K, 16, 16)`` logits (module docstring)."""
    m, stride, s = CODEC.heatmap_size, CODEC.input_size / CODEC.heatmap_size, CODEC.sigma
    hy, hx = torch.meshgrid(torch.arange(m.__float__()), torch.arange(float(m)), indexing="ij")
    out = torch.zeros(crops.shape[0], K, m, m)
    for b, crop in enumerate(crops):
        mask = crop[0] > 1.5  # white: (1 - 0.485) / 0.229 = 2.25; black: -2.1
        if not mask.any():
            continue  # flat logits: no face here
        v, u = torch.nonzero(mask, as_tuple=True)
        cu, cv = u.float().mean(), v.float().mean()
        radius = float(np.sqrt(mask.sum().item() / np.pi))
        for k, a in enumerate(ANGLES):
            pu, pv = cu + radius * np.cos(a), cv + radius * np.sin(a)
            px, py = (pu + 0.5) / stride - 0.5, (pv + 0.5) / stride - 0.5
            out[b, k] = -((hx - px) ** 2 + (hy - py) ** 2) / (2 * s**2)
    return out


class DiscFinder:
    """Box of the white pixels (none without them); counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, image: np.ndarray) -> np.ndarray:
        self.calls += 1
        ys, xs = np.nonzero(image[..., 0] > 200)
        if len(xs) == 0:
            return np.zeros((0, 4))
        return np.array([[xs.min(), ys.min(), xs.max(), ys.max()]], dtype=np.float64)


def disc_frame(centre, radius=10, shape=(96, 128)) -> np.ndarray:
    img = np.zeros((*shape, 3), np.uint8)
    if centre is not None:
        cv2.circle(img, (int(centre[0]), int(centre[1])), radius, (255, 255, 255), -1)
    return img


def disc_detector(**kw) -> Detector:
    """A detector on the disc model; crops never turned (the disc's "eyes" are arbitrary)."""
    det = Detector(disc_backend, SCHEME, CODEC, **kw)
    det.max_roll = None
    return det


def make_tracker(**kw) -> tuple[FaceTracker, DiscFinder]:
    finder = DiscFinder()
    det = disc_detector(face_finder=finder)
    kw.setdefault("redetect_every", 0)
    return FaceTracker(det, **kw), finder


# --- confidence ---------------------------------------------------------------------------------


def test_target_peak_is_about_one_over_two_pi_sigma_squared():
    assert target_peak(3.0, 64) == pytest.approx(1.0 / (2 * np.pi * 9.0), rel=1e-3)
    # sigma 0.5: the centre pixel holds most of the mass: 1 / (1 + 4 e^-2 + 4 e^-4 + ...)
    assert target_peak(0.5, 16) == pytest.approx(1 / (1 + 2 * np.exp(-2) + 2 * np.exp(-8)) ** 2)


def test_confidence_of_the_target_is_one_of_a_flat_map_small():
    m, s = 16, 1.5
    yy, xx = np.mgrid[0:m, 0:m]
    target = -((xx - 7) ** 2 + (yy - 8) ** 2) / (2 * s**2)
    logits = torch.tensor(np.stack([target, np.zeros((m, m))])[None], dtype=torch.float32)
    conf_each = [heatmap_confidence(logits[:, i : i + 1], softmax=True, sigma=s)[0] for i in (0, 1)]
    assert conf_each[0] == pytest.approx(1.0, abs=1e-5)
    assert conf_each[1] == pytest.approx(1.0 / (m * m * target_peak(s, m)), rel=1e-5)
    both = heatmap_confidence(logits, softmax=True, sigma=s)[0]
    assert both == pytest.approx(np.mean(conf_each), rel=1e-6)  # the mean over landmarks


def test_confidence_of_regression_heatmaps_is_the_clipped_peak():
    h = torch.zeros(1, 3, 4, 4)
    h[0, 0, 1, 1], h[0, 1, 2, 2], h[0, 2, 0, 3] = 0.5, 1.5, -1.0
    assert heatmap_confidence(h, softmax=False, sigma=1.0)[0] == pytest.approx((0.5 + 1 + 0) / 3)


def test_crop_from_landmarks_is_the_training_rule_and_iou():
    pts = np.random.default_rng(0).uniform(10, 50, (K, 2))
    det = disc_detector()  # never turned: exactly the training rule
    c, s, a = placement_from_landmarks(det, pts)
    c2, s2 = centre_scale_from_landmarks(pts)
    assert np.array_equal(c, c2) and s == s2 and a == 0.0
    iou = box_iou(np.array([[0, 0, 2, 2]]), np.array([[1, 1, 3, 3], [0, 0, 2, 2], [5, 5, 6, 6]]))
    np.testing.assert_allclose(iou, [[1 / 7, 1.0, 0.0]])


# --- the tracker ---------------------------------------------------------------------------------


def test_follows_a_moving_face_with_one_finder_call():
    tracker, finder = make_tracker()
    centres = [(40 + 3 * t, 45 + t) for t in range(8)]
    steps = [tracker(disc_frame(c)) for c in centres]
    assert finder.calls == 1 and [s.found for s in steps] == [True] + [False] * 7
    assert all(len(s.faces) == 1 and s.ids == [0] for s in steps)
    for s, c in zip(steps, centres):  # within the lag the tight 1.25 context crop cuts off
        assert np.abs(s.faces[0].landmarks.mean(axis=0) - c).max() < 1.5
        assert s.faces[0].confidence > 0.9


def test_redetect_every_n_frames():
    tracker, finder = make_tracker(redetect_every=3)
    found = [tracker(disc_frame((50, 50))).found for _ in range(7)]
    assert found == [True, False, False, True, False, False, True] and finder.calls == 3


def test_a_cut_loses_the_face_refinds_it_and_restarts_the_smoothing():
    from otmark.inference.smoothing import FaceSmoother

    tracker, finder = make_tracker(smoother=FaceSmoother(min_cutoff=0.5, beta=0.0), fps=10.0)
    centres = [(40, 40)] * 3 + [None] * 2 + [(95, 60)] * 2
    steps = [tracker(disc_frame(c)) for c in centres]
    assert [len(s.faces) for s in steps] == [1, 1, 1, 0, 0, 1, 1]
    assert [s.found for s in steps] == [True, False, False, True, True, True, False]
    assert steps[3].lost == 1 and steps[5].ids == [1]  # a new track after the cut
    # no lag from the face before the cut: the first frame of the new track is unsmoothed
    assert np.abs(steps[5].faces[0].landmarks.mean(axis=0) - (95, 60)).max() < 1.0


def test_a_face_leaving_the_frame_ends_its_track():
    tracker, _ = make_tracker()
    steps = [tracker(disc_frame((60 + 25 * t, 50))) for t in range(6)]  # out by x = 135
    n_faces = [len(s.faces) for s in steps]
    assert n_faces[0] == 1 and n_faces[-1] == 0
    assert n_faces == sorted(n_faces, reverse=True)


def test_single_face_mode_keeps_one_track():
    tracker, _ = make_tracker(max_faces=1, redetect_every=1)

    def two_discs():
        img = disc_frame((30, 40))
        cv2.circle(img, (100, 50), 10, (255, 255, 255), -1)
        return img

    tracker.find_faces = lambda im: np.array([[20.0, 30, 40, 50], [90, 40, 110, 60]])
    assert all(len(tracker(two_discs()).faces) == 1 for _ in range(3))


def test_bad_options_named():
    det = disc_detector()
    with pytest.raises(ValueError, match="threshold"):
        FaceTracker(det, threshold=1.5)
    with pytest.raises(ValueError, match="redetect_every"):
        FaceTracker(det, redetect_every=-1)


def test_frame_ranges():
    assert frame_ranges([12, 3, 4, 5, 6, 7]) == "3-7, 12"
    assert frame_ranges([1]) == "1" and frame_ranges([]) == ""


# --- whole runs ----------------------------------------------------------------------------------


def _write_video(path, centres, shape=(96, 128)):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, shape[::-1])
    for c in centres:
        writer.write(disc_frame(c, shape=shape))
    writer.release()
    return path


def test_run_on_a_video_with_a_cut_records_tracking(tmp_path):
    video = _write_video(tmp_path / "cut.avi", [(40, 40)] * 3 + [None] * 2 + [(90, 50)] * 2)
    finder = DiscFinder()
    det = disc_detector(face_finder=finder)
    run = run_detection(
        det, video, tmp_path / "out", overlays=False, video=VideoOptions(redetect_every=0)
    )
    assert [len(r.faces) for r in run.results] == [1, 1, 1, 0, 0, 1, 1]
    doc = json.loads((tmp_path / "out" / "landmarks.json").read_text())
    assert doc["tracking"]["tracked"] and doc["tracking"]["finder_frames"] == [0, 3, 4, 5]
    assert 0.9 < doc["items"][0]["faces"][0]["confidence"] <= 1.0
    assert run.videos[0]["frames_decoded"] == 7


def test_given_boxes_on_video_are_smoothed_not_tracked(tmp_path):
    video = _write_video(tmp_path / "v.avi", [(40, 40), (44, 40), (48, 40)])
    from otmark.inference import fixed_boxes

    det = disc_detector()
    boxes = fixed_boxes(np.array([[20.0, 20, 70, 60]]))
    raw = run_detection(det, video, tmp_path / "a", boxes_for=boxes, overlays=False)
    options = VideoOptions(beta=0.0, centre_beta=0.0)  # fixed cutoffs: it lags
    smooth = run_detection(
        det, video, tmp_path / "b", boxes_for=boxes, overlays=False, video=options
    )
    r0, s0 = raw.results[0].faces[0].landmarks, smooth.results[0].faces[0].landmarks
    np.testing.assert_allclose(s0, r0)  # the first frame passes unchanged
    r2, s2 = raw.results[2].faces[0].landmarks, smooth.results[2].faces[0].landmarks
    assert s2[:, 0].mean() < r2[:, 0].mean() - 0.5  # lags behind the motion
    assert json.loads((tmp_path / "b" / "landmarks.json").read_text())["tracking"] == {
        **options.to_json(),
        "tracked": False,
    }


def test_tracking_frames_are_named_like_untracked_ones(tmp_path):
    video = _write_video(tmp_path / "v.avi", [(50, 50)] * 2)
    det = disc_detector(face_finder=DiscFinder())
    run = run_detection(det, video, tmp_path / "o", overlays=True, video=VideoOptions())
    assert [(r.source, r.frame) for r in run.results] == [("v.avi", 0), ("v.avi", 1)]
    assert (tmp_path / "o" / "v_landmarks.mp4").is_file()
    assert isinstance(run.results[0].faces[0].box, np.ndarray)
    _ = Frame  # the frame type the pipeline yields


def test_a_never_confident_model_falls_back_to_the_finder_on_every_frame():
    tracker, finder = make_tracker(threshold=1.0)  # the disc model's confidence is below 1
    steps = [tracker(disc_frame((50, 50))) for _ in range(4)]
    assert all(len(s.faces) == 1 and s.found for s in steps) and finder.calls == 4
    assert [s.lost for s in steps] == [0, 1, 1, 1]
