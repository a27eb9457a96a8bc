"""The One-Euro filter against a sequence worked by hand, its reset, and the per-face smoother."""

from __future__ import annotations

import math

import numpy as np
import pytest

from otmark.inference.smoothing import FaceSmoother, OneEuroFilter, smoothing_factor


def test_hand_worked_scalar_sequence():
    """dt = 1 / (2 pi) makes alpha(fc) = fc / (1 + fc); min_cutoff 1, beta 1 / pi, d_cutoff 1.

    x = 0, 1, 3, 3:
    - t0: x_hat = 0, dx_hat = 0;
    - t1: dx = 2 pi, dx_hat = pi (alpha_d = 1/2), fc = 1 + 1 = 2, alpha = 2/3, x_hat = 2/3;
    - t2: dx = (3 - 2/3) 2 pi = 14 pi / 3, dx_hat = 7 pi / 3 + pi / 2 = 17 pi / 6,
      fc = 23 / 6, alpha = 23 / 29, x_hat = 69 / 29 + (6 / 29)(2 / 3) = 73 / 29;
    - t3: dx = (3 - 73/29) 2 pi = 28 pi / 29, dx_hat = 14 pi / 29 + 17 pi / 12 = 661 pi / 348,
      fc = 1009 / 348, alpha = 1009 / 1357, x_hat = (3027 + (348 / 29) 73) / 1357 = 3903 / 1357.
    """
    f = OneEuroFilter(min_cutoff=1.0, beta=1.0 / math.pi, d_cutoff=1.0)
    dt = 1.0 / (2.0 * math.pi)
    out = [float(f(np.array([x]), k * dt)[0]) for k, x in enumerate([0.0, 1.0, 3.0, 3.0])]
    np.testing.assert_allclose(out, [0.0, 2 / 3, 73 / 29, 3903 / 1357], rtol=1e-12, atol=1e-12)


def test_smoothing_factor_closed_form():
    assert smoothing_factor(1.0, 1.0 / (2.0 * math.pi)) == pytest.approx(0.5)
    assert smoothing_factor(3.0, 1.0 / (2.0 * math.pi)) == pytest.approx(0.75)


def test_beta_zero_is_a_fixed_exponential_average_and_points_filter_per_coordinate():
    f = OneEuroFilter(min_cutoff=1.0, beta=0.0)
    dt = 1.0 / (2.0 * math.pi)  # alpha = 1/2
    pts = np.array([[0.0, 10.0], [4.0, -2.0]])
    assert np.array_equal(f(pts, 0.0), pts)
    np.testing.assert_allclose(f(pts + 2.0, dt), pts + 1.0)
    np.testing.assert_allclose(f(pts + 2.0, 2 * dt), pts + 1.5)


def test_reset_on_a_lost_face_restarts_from_the_next_sample():
    f = OneEuroFilter(min_cutoff=1.0, beta=0.0)
    f(np.array([0.0]), 0.0)
    assert f(np.array([10.0]), 0.1)[0] < 10.0  # lags behind
    f.reset()
    assert not f.started
    assert f(np.array([50.0]), 0.2)[0] == 50.0  # no memory of the lost face
    assert f.started


def test_constant_signal_stays_put_and_nan_passes_through():
    f = OneEuroFilter()
    for k in range(4):
        out = f(np.array([3.0, np.nan if k == 2 else 5.0]), k / 25)
    np.testing.assert_allclose(out, [3.0, 5.0])
    assert np.isnan(f(np.array([3.0, np.nan]), 1.0)[1])


def test_bad_parameters_and_time_named():
    with pytest.raises(ValueError, match="min_cutoff"):
        OneEuroFilter(min_cutoff=0.0)
    with pytest.raises(ValueError, match="beta"):
        OneEuroFilter(beta=-1.0)
    f = OneEuroFilter()
    f(np.zeros(2), 1.0)
    with pytest.raises(ValueError, match="time must increase"):
        f(np.zeros(2), 1.0)


def test_face_smoother_keeps_a_filter_per_track_and_drops_lost_tracks():
    s = FaceSmoother(min_cutoff=1.0, beta=0.0)
    dt = 1.0 / (2.0 * math.pi)
    a, b = np.zeros((1, 2)), np.full((1, 2), 100.0)
    s([0, 1], np.stack([a, b]), 0.0)
    out = s([1, 0], np.stack([b + 2, a + 2]), dt)  # order of the faces does not matter
    np.testing.assert_allclose(out, np.stack([b + 1, a + 1]))
    out = s([1], np.stack([b + 2]), 2 * dt)  # track 0 lost
    out = s([0, 1], np.stack([a + 8, b + 2]), 3 * dt)  # track 0 back: a fresh filter
    np.testing.assert_allclose(out[0], a + 8)
