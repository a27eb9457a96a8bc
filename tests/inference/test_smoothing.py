"""The One-Euro filter against a sequence worked by hand, its reset, and the per-face smoother."""

from __future__ import annotations

import math

import numpy as np
import pytest

from otmark.inference.smoothing import FaceSmoother, OneEuroFilter, face_size, smoothing_factor


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
    s = FaceSmoother(min_cutoff=1.0, beta=0.0, centre_min_cutoff=1.0, centre_beta=0.0)
    dt = 1.0 / (2.0 * math.pi)
    a, b = np.zeros((1, 2)), np.full((1, 2), 100.0)
    s([0, 1], np.stack([a, b]), 0.0)
    out = s([1, 0], np.stack([b + 2, a + 2]), dt)  # order of the faces does not matter
    np.testing.assert_allclose(out, np.stack([b + 1, a + 1]))
    out = s([1], np.stack([b + 2]), 2 * dt)  # track 0 lost
    out = s([0, 1], np.stack([a + 8, b + 2]), 3 * dt)  # track 0 back: a fresh filter
    np.testing.assert_allclose(out[0], a + 8)


def test_trend_follows_a_constant_speed_without_lag():
    """dt = 1 / (2 pi), min_cutoff 1 (alpha 1/2), beta 0, d_cutoff 1 (alpha_d 1/2); x = k:
    - t1: carried 0, dx = 2 pi, dx_hat = pi, x_hat = 1/2;
    - t2: carried 1/2 + pi dt = 1, dx = 3 pi, dx_hat = 2 pi, x_hat = (2 + 1) / 2 = 3/2;
    - t3: carried 3/2 + 1 = 5/2, x_hat = (3 + 5/2) / 2 = 11/4;
    then the lag tends to 0, where the plain filter lags by (1 - alpha) / alpha = 1 sample."""
    dt = 1.0 / (2.0 * math.pi)
    with_trend = OneEuroFilter(min_cutoff=1.0, beta=0.0, d_cutoff=1.0, trend=True)
    plain = OneEuroFilter(min_cutoff=1.0, beta=0.0, d_cutoff=1.0)
    out = [float(with_trend(np.array([k]), k * dt)[0]) for k in range(40)]
    lag = [k - float(plain(np.array([k]), k * dt)[0]) for k in range(40)]
    np.testing.assert_allclose(out[:4], [0.0, 0.5, 1.5, 2.75], rtol=1e-12)
    assert abs(out[-1] - 39) < 1e-3 and abs(lag[-1] - 1.0) < 1e-3


def test_speed_per_size_makes_the_filter_scale_free():
    """beta 2 / pi with size 2 is the hand-worked sequence of beta 1 / pi with size 1; a signal
    and its size both doubled give the output doubled."""
    dt = 1.0 / (2.0 * math.pi)
    f = OneEuroFilter(min_cutoff=1.0, beta=2.0 / math.pi, d_cutoff=1.0)
    out = [float(f(np.array([x]), k * dt, 2.0)[0]) for k, x in enumerate([0.0, 1.0, 3.0, 3.0])]
    np.testing.assert_allclose(out, [0.0, 2 / 3, 73 / 29, 3903 / 1357], rtol=1e-12)
    rng = np.random.default_rng(0)
    face = rng.uniform(0, 50, size=(1, 5, 2)) + np.cumsum(rng.normal(0, 3, size=(8, 1, 1)), axis=0)
    small, large = FaceSmoother(), FaceSmoother()
    for k in range(8):
        a, b = small([0], face[k : k + 1], k / 25), large([0], 2.0 * face[k : k + 1], k / 25)
        np.testing.assert_allclose(b, 2.0 * a, rtol=1e-9)
    with pytest.raises(ValueError, match="size"):
        OneEuroFilter()(np.zeros(2), 0.0, 0.0)


def test_face_smoother_filters_centre_pose_and_shape_apart():
    """dt = 1 / (2 pi), betas 0: centre alpha 3/4 (3 Hz), pose and shape alpha 1/2 (1 Hz).
    A triangle with centre (0, 0) and offsets d moves to centre (4, 0) with offsets 2 i d (twice
    as large, turned by 90 degrees): the centre (no speed yet) gives (4, 0) * 3/4 = (3, 0); the
    pose z goes from |d| to 2 i |d|: log |z| and arg z halfway, sqrt(2) |d| e^(i pi/4); the shape
    d / z does not change. So the offsets are d scaled by sqrt(2) and turned by 45 degrees."""
    s = FaceSmoother(
        min_cutoff=1.0,
        beta=0.0,
        centre_min_cutoff=3.0,
        centre_beta=0.0,
        pose_min_cutoff=1.0,
        pose_beta=0.0,
    )
    d = np.array([[-3.0, -1.0], [3.0, -1.0], [0.0, 2.0]])  # mean 0
    turn = np.array([[0.0, -1.0], [1.0, 0.0]])  # 90 degrees: (x, y) -> (-y, x)
    dt = 1.0 / (2.0 * math.pi)
    np.testing.assert_allclose(s([7], d[None], 0.0)[0], d)
    out = s([7], (np.array([4.0, 0.0]) + 2.0 * d @ turn.T)[None], dt)[0]
    half = np.array([[1.0, -1.0], [1.0, 1.0]])  # sqrt(2) times a turn by 45 degrees
    np.testing.assert_allclose(out, np.array([3.0, 0.0]) + d @ half.T, rtol=1e-12, atol=1e-12)
    # a missing point passes through as NaN, the others stay finite
    gone = s([7], np.array([[np.nan, np.nan], [10.0, 0.0], [4.0, 4.0]])[None], 2 * dt)[0]
    assert np.isnan(gone[0]).all() and np.isfinite(gone[1:]).all()


def test_face_size_is_the_geometric_mean_of_the_box_sides():
    assert face_size(np.array([[0.0, 0.0], [8.0, 2.0], [np.nan, 50.0]])) == pytest.approx(4.0)
    assert face_size(np.array([[0.0, 0.0], [6.0, 0.0]])) == 6.0  # a flat face: its width
    assert face_size(np.array([[1.0, 1.0]])) == 0.0
    single = FaceSmoother()  # a one-point face has no size: the speed is in pixels
    single([0], np.zeros((1, 1, 2)), 0.0)
    assert np.isfinite(single([0], np.ones((1, 1, 2)), 0.04)).all()


def test_a_noisy_moving_face_jitters_less_and_does_not_trail():
    """A face moving at a constant speed and turning slowly, its landmarks shaken by 1 px noise,
    at 25 frames/s: the smoother's jitter (otmark.metrics.jitter) is under a third of the raw
    one and its error over the last frames stays under the noise's."""
    from otmark.metrics.jitter import frame_jitter, mean_jitter

    rng = np.random.default_rng(1)
    angles = np.linspace(0.0, 2.0 * np.pi, 20, endpoint=False)
    base = 50.0 * np.stack([np.cos(angles), np.sin(angles)], axis=-1)  # (20, 2)
    truth = []
    for k in range(50):
        a = np.radians(0.3 * k)
        rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        truth.append(base @ rot.T + np.array([100.0 + 2.0 * k, 80.0 + k]))
    truth = np.stack(truth)
    noisy = truth + rng.normal(0.0, 1.0, truth.shape)
    s = FaceSmoother()
    smooth = np.stack([s([0], p[None], k / 25.0)[0] for k, p in enumerate(noisy)])
    norm = np.full(50, 100.0)
    raw_j = mean_jitter(frame_jitter(noisy, truth, norm))
    smooth_j = mean_jitter(frame_jitter(smooth, truth, norm))
    assert smooth_j < raw_j / 3
    err = np.linalg.norm(smooth - truth, axis=-1)[-10:].mean()
    assert err < np.linalg.norm(noisy - truth, axis=-1)[-10:].mean()


def test_a_spinning_face_is_caught_up_through_several_turns():
    """A face turning 20 degrees a frame for 40 frames (over two turns): the pose's angle is
    unwrapped (no jump where arg z wraps) and its trend catches the constant turn."""
    angles = np.linspace(0.0, 2.0 * np.pi, 12, endpoint=False)
    base = np.stack([40.0 * np.cos(angles), 25.0 * np.sin(angles)], axis=-1)
    s, errors = FaceSmoother(), []
    for k in range(40):
        a = np.radians(20.0 * k)
        truth = base @ np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]).T + 100.0
        out = s([0], truth[None], k / 25.0)[0]
        errors.append(np.linalg.norm(out - truth, axis=-1).mean())
    assert max(errors[20:]) < 0.05 and max(errors) < 5.0
