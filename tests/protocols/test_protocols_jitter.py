"""Jitter of protocol predictions on video frames, scored in the common space like NME."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from otmark.datasets.records import ImageRef, Sample
from otmark.protocols.jitter import video_jitter
from otmark.schemes import get_scheme, normaliser


def _frames(video: str, frames: list[int], shift: np.ndarray) -> list[Sample]:
    rng = np.random.default_rng(0)
    base = rng.uniform(50, 150, (get_scheme("300vw").num_points, 2))
    return [
        Sample(
            ImageRef(Path(f"{video}.png")),
            base + shift * f,
            "300vw",
            id=f"{video}/{f}",
            attributes={"video": video, "frame": f},
        )
        for f in frames
    ]


def test_a_prediction_shaking_by_a_known_step_scores_that_step_over_the_normaliser():
    """The truth moves 2 px right per frame; the prediction adds +d, -d, +d ... in y: each
    consecutive pair differs by 2d beyond the truth's motion."""
    samples = _frames("v", [0, 1, 2, 3], np.array([2.0, 0.0]))
    gt = np.stack([s.landmarks for s in samples])
    d = 1.5
    pred = gt + np.array([[0.0, d], [0.0, -d], [0.0, d], [0.0, -d]])[:, None, :]
    out = video_jitter(samples, pred, "300vw")
    norm = normaliser(gt, "300vw")  # the same in every frame (a translation)
    assert out["frames"] == 3 and out["videos"] == 1
    assert out["jitter"] == pytest.approx(100 * 2 * d / norm[0])


def test_order_gaps_and_two_videos():
    a = _frames("a", [0, 1, 3], np.zeros(2))
    b = _frames("b", [5, 6], np.zeros(2))
    samples = [b[1], a[2], a[0], b[0], a[1]]  # any order: sorted by video, frame
    pred = np.stack([s.landmarks for s in samples])
    pred[1] += 5.0  # a/3: no predecessor (frame 2 missing), not scored
    out = video_jitter(samples, pred, "300vw")
    assert out["frames"] == 2 and out["jitter"] == pytest.approx(0.0)


def test_images_are_not_videos():
    s = Sample(ImageRef(Path("x.png")), np.zeros((68, 2)), "300w", id="x")
    assert video_jitter([s], np.zeros((1, 68, 2)), "300w") is None
