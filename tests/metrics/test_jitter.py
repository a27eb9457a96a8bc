"""Jitter against hand-worked sequences."""

from __future__ import annotations

import numpy as np
import pytest

from otmark.metrics.jitter import frame_jitter, mean_jitter


def test_hand_worked_two_landmarks():
    """Two landmarks over three frames, normaliser 10 then 20.

    - frame 1: point 0 moves (3, 4) while the truth stays: |(3, 4)| = 5; point 1 moves with the
      truth (1, 0): 0. Mean 2.5 / 10 = 0.25.
    - frame 2: point 0 stays, truth moves (0, 6): 6; point 1 moves (2, 0), truth (-2, 0): 4.
      Mean 5 / 20 = 0.25.
    """
    gt = np.array([[[0, 0], [10, 0]], [[0, 0], [11, 0]], [[0, 6], [9, 0]]], dtype=np.float64)
    pred = np.array([[[1, 1], [12, 3]], [[4, 5], [13, 3]], [[4, 5], [15, 3]]], dtype=np.float64)
    out = frame_jitter(pred, gt, np.array([7.0, 10.0, 20.0]))
    assert np.isnan(out[0])
    np.testing.assert_allclose(out[1:], [0.25, 0.25])
    assert mean_jitter(out) == pytest.approx(0.25)


def test_constant_offset_has_no_jitter():
    rng = np.random.default_rng(0)
    gt = np.cumsum(rng.normal(size=(6, 5, 2)), axis=0)
    out = frame_jitter(gt + np.array([3.0, -2.0]), gt, np.ones(6))
    np.testing.assert_allclose(out[1:], 0.0, atol=1e-12)


def test_gaps_cuts_and_missing_predictions_have_no_value():
    gt = np.zeros((5, 1, 2))
    pred = np.array([[[0, 0]], [[1, 0]], [[np.nan, 0]], [[3, 0]], [[5, 0]]], dtype=np.float64)
    out = frame_jitter(pred, gt, np.ones(5), frames=[0, 1, 2, 3, 5])
    # frame 1: 1; frame 2 (missing) and 3 (after a missing one): NaN; index 5 follows 3: NaN
    assert out[1] == 1.0 and np.isnan(out[[0, 2, 3, 4]]).all()
    out = frame_jitter(pred[:2], gt[:2], np.ones(2), videos=["a", "b"])
    assert np.isnan(out).all()
    assert np.isnan(mean_jitter(np.full(3, np.nan)))


def test_shapes_checked():
    with pytest.raises(ValueError, match=r"\(T, K, 2\)"):
        frame_jitter(np.zeros((3, 2)), np.zeros((3, 2)), np.ones(3))
    with pytest.raises(ValueError, match="normaliser"):
        frame_jitter(np.zeros((3, 1, 2)), np.zeros((3, 1, 2)), np.ones(2))
