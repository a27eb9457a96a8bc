import numpy as np
import pytest

from otmark.perturb import (
    BLUR_LEVELS,
    apply_motion,
    blur_frame,
    motion_blur,
    motion_kernel,
    neighbour_indices,
)


@pytest.mark.parametrize("v", [(6.0, 0.0), (0.0, 9.5), (7.0, -7.0), (0.3, 0.2), (25.0, 10.0)])
def test_kernel_sums_to_one_and_is_point_symmetric(v):
    k = motion_kernel(*v)
    assert k.shape[0] == k.shape[1] and k.shape[0] % 2 == 1
    assert k.sum() == pytest.approx(1.0, abs=1e-6)
    assert (k >= 0).all()
    np.testing.assert_allclose(k, k[::-1, ::-1], atol=1e-7)


def test_zero_motion_kernel_and_frame_identity():
    np.testing.assert_array_equal(motion_kernel(0.0, 0.0), [[1.0]])
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    lm = rng.uniform(0, 20, (5, 2))
    np.testing.assert_array_equal(blur_frame(frame, lm, lm, "large", nose_index=3), frame)


def _dot(h=101, w=101, at=(50, 50)):
    f = np.zeros((h, w, 3), dtype=np.uint8)
    f[at[1], at[0]] = 255
    return f


def test_horizontal_dot_becomes_horizontal_segment_of_the_right_length():
    # streak vector (20, 0): the dot spreads over x in [40, 60] on row 50 only
    out = apply_motion(_dot(), 20.0, 0.0)[..., 0]
    ys, xs = np.nonzero(out)
    assert set(ys.tolist()) == {50}
    assert xs.min() == 40 and xs.max() == 60
    # interior of the segment is flat: 255 / 20 per pixel (rounded)
    assert np.all(np.abs(out[50, 42:59].astype(int) - 255 / 20) <= 1)


def test_diagonal_dot_segment_direction_and_length():
    dx, dy = 18.0, -24.0  # length 30
    out = apply_motion(_dot(), dx, dy)[..., 0].astype(float)
    ys, xs = np.nonzero(out)
    u = np.array([dx, dy]) / 30.0
    rel = np.stack([xs - 50.0, ys - 50.0], axis=1)
    along = rel @ u
    across = rel @ np.array([-u[1], u[0]])
    assert np.abs(across).max() <= 1.0  # on the line through the dot
    assert along.min() == pytest.approx(-15, abs=1.0) and along.max() == pytest.approx(15, abs=1.0)
    # mass centred on the dot
    w = out[ys, xs]
    assert abs((w * along).sum() / w.sum()) < 0.3


def test_blur_frame_uses_level_factor_and_central_difference():
    # nose moves 3 px/frame in x: central difference over t-1..t+1 = 6 / 2 = 3
    # medium factor 2 -> streak 6 px: the dot covers x 47..53
    prev = np.array([[0.0, 0.0], [10.0, 10.0]])
    nxt = np.array([[0.0, 0.0], [16.0, 10.0]])
    out = blur_frame(_dot(), prev, nxt, "medium", nose_index=1)[..., 0]
    xs = np.nonzero(out[50])[0]
    assert BLUR_LEVELS["medium"] == 2.0
    assert xs.min() == 47 and xs.max() == 53
    out_l = blur_frame(_dot(), prev, nxt, "large", nose_index=1)[..., 0]
    xs_l = np.nonzero(out_l[50])[0]
    assert xs_l.min() == 44 and xs_l.max() == 56  # factor 4 -> 12 px


def test_neighbour_indices_one_sided_at_ends():
    assert neighbour_indices(0, 5) == (0, 1, 1)
    assert neighbour_indices(2, 5) == (1, 3, 2)
    assert neighbour_indices(4, 5) == (3, 4, 1)
    assert neighbour_indices(0, 1) == (0, 0, 1)


def test_motion_blur_sequence_matches_per_frame_function_and_is_deterministic():
    rng = np.random.default_rng(3)
    frames = rng.integers(0, 256, (4, 24, 32, 3), dtype=np.uint8)
    lm = np.zeros((4, 3, 2))
    lm[:, 2, 0] = [5.0, 6.0, 9.0, 9.0]  # reference point 2 moves in x, then stops
    out = motion_blur(frames, lm, "medium", nose_index=2)
    again = motion_blur(list(frames), lm, "medium", nose_index=2)
    assert len(out) == 4
    for a, b in zip(out, again):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(out[0], blur_frame(frames[0], lm[0], lm[1], "medium", 2, 1))
    np.testing.assert_array_equal(out[1], blur_frame(frames[1], lm[0], lm[2], "medium", 2, 2))
    np.testing.assert_array_equal(out[3], frames[3])  # last frame: one-sided, 9 -> 9: still
    assert not np.array_equal(out[1], frames[1])


def test_motion_blur_bad_shapes():
    frames = np.zeros((3, 8, 8, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="T = 3"):
        motion_blur(frames, np.zeros((2, 5, 2)), "medium", nose_index=0)
    with pytest.raises(ValueError, match="level"):
        motion_blur(frames, np.zeros((3, 5, 2)), "extreme", nose_index=0)
    with pytest.raises(ValueError, match="nose_index or scheme"):
        motion_blur(frames, np.zeros((3, 5, 2)), "medium")


def test_reference_point_is_the_papers_34th_landmark_of_300w():
    from otmark.perturb import blur_reference_index

    assert blur_reference_index("300w") == 33  # the paper's 1-based "34th landmark"
    assert blur_reference_index("300vw") == 33
    frames = np.zeros((3, 8, 8, 3), dtype=np.uint8)
    lm = np.zeros((3, 68, 2))  # the 68-point scheme of the check above
    assert len(motion_blur(frames, lm, "medium", scheme="300vw")) == 3
