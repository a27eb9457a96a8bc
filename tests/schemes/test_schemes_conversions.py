import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from otmark.schemes import (
    SCHEMES,
    TABLES,
    approximate_points,
    can_convert,
    common_points,
    conversion_matrix,
    convert,
    flip_landmarks,
    get_scheme,
)

PAIRS = sorted(set(TABLES) | {("wflw", "aflw"), ("wflw", "17"), ("cofw", "17"), ("300vw", "aflw")})


@pytest.mark.parametrize("src,dst", PAIRS)
def test_rows_sum_to_one_and_nonnegative(src, dst):
    m = conversion_matrix(src, dst)
    assert m.shape == (get_scheme(dst).num_points, get_scheme(src).num_points)
    assert (m >= 0).all()
    np.testing.assert_allclose(m.sum(axis=1), 1.0)


coords = arrays(
    np.float64, (2, 98, 2), elements=st.floats(-500, 500, allow_nan=False, allow_infinity=False)
)


@settings(max_examples=25, deadline=None)
@given(coords, st.sampled_from(PAIRS), st.integers(1, 1000))
def test_conversion_commutes_with_flip(data, pair, width):
    src, dst = pair
    x = data[:, : get_scheme(src).num_points]
    a = flip_landmarks(convert(x, src, dst), get_scheme(dst), width)
    b = convert(flip_landmarks(x, get_scheme(src), width), src, dst)
    np.testing.assert_allclose(a, b, atol=1e-9)


@settings(max_examples=20, deadline=None)
@given(coords, st.sampled_from(PAIRS))
def test_conversion_commutes_with_affine_maps(data, pair):
    src, dst = pair
    x = data[:, : get_scheme(src).num_points]
    a = np.array([[0.8, -0.3], [0.2, 1.1]])
    t = np.array([5.0, -7.0])
    np.testing.assert_allclose(
        convert(x @ a.T + t, src, dst), convert(x, src, dst) @ a.T + t, atol=1e-8
    )


def test_wflw_to_300w_hand_checked_points():
    x = np.arange(98 * 2, dtype=np.float64).reshape(98, 2)
    y = convert(x, "wflw", "300w")
    # WFLW_2_iBUG68: jaw 68[j] = 98[2j]; 68[36..41] = 98[60,61,63,64,65,67]; mouth 76..95
    np.testing.assert_array_equal(y[:17], x[0:33:2])
    np.testing.assert_array_equal(y[17:22], x[33:38])
    np.testing.assert_array_equal(y[22:27], x[42:47])
    np.testing.assert_array_equal(y[27:36], x[51:60])
    np.testing.assert_array_equal(y[36:42], x[[60, 61, 63, 64, 65, 67]])
    np.testing.assert_array_equal(y[42:48], x[[68, 69, 71, 72, 73, 75]])
    np.testing.assert_array_equal(y[48:68], x[76:96])
    # the normaliser points map onto each other
    s98, s68 = get_scheme("wflw"), get_scheme("300w")
    np.testing.assert_array_equal(y[list(s68.normaliser_indices)], x[list(s98.normaliser_indices)])


def test_300w_to_aflw_means():
    x = np.random.default_rng(1).normal(size=(68, 2))
    y = convert(x, "300w", "aflw")
    np.testing.assert_allclose(y[7], x[36:42].mean(0))
    np.testing.assert_allclose(y[10], x[42:48].mean(0))
    np.testing.assert_allclose(y[16], (x[62] + x[66]) / 2)
    np.testing.assert_allclose(
        y[[0, 2, 3, 5, 6, 8, 9, 11, 18]], x[[17, 21, 22, 26, 36, 39, 42, 45, 8]]
    )


def test_cofw_to_aflw_table():
    x = np.random.default_rng(2).normal(size=(29, 2))
    y = convert(x, "cofw", "aflw")
    np.testing.assert_allclose(y[1], (x[4] + x[5]) / 2)
    np.testing.assert_allclose(y[4], (x[6] + x[7]) / 2)
    np.testing.assert_allclose(y[16], (x[25] + x[26]) / 2)
    expect = {
        0: 0,
        2: 2,
        3: 3,
        5: 1,
        6: 8,
        7: 16,
        8: 10,
        9: 11,
        10: 17,
        11: 9,
        12: 18,
        13: 20,
        14: 19,
        15: 22,
        17: 23,
        18: 28,
    }
    for d, s in expect.items():
        np.testing.assert_array_equal(y[d], x[s])


def test_composed_wflw_to_aflw_equals_two_steps():
    x = np.random.default_rng(3).normal(size=(4, 98, 2))
    two = convert(convert(x, "wflw", "300w"), "300w", "aflw")
    np.testing.assert_allclose(convert(x, "wflw", "aflw"), two)
    approx = approximate_points("wflw", "aflw")
    # eye centres depend on the approximate eyelids as well as being approximate themselves
    assert approx[[1, 4, 7, 10, 16]].all() and not approx[[0, 6, 18]].any()


def test_identity_and_300vw():
    x = np.random.default_rng(4).normal(size=(68, 2))
    np.testing.assert_array_equal(convert(x, "300vw", "300w"), x)
    np.testing.assert_array_equal(convert(x, "300w", "300vw"), x)
    np.testing.assert_array_equal(conversion_matrix("cofw", "cofw"), np.eye(29))


def test_no_conversion_errors():
    assert not can_convert("aflw", "300w")
    with pytest.raises(ValueError, match="no conversion from scheme 'aflw' to '300w'"):
        convert(np.zeros((19, 2)), "aflw", "300w")
    with pytest.raises(ValueError, match="scheme wflw has 98"):
        convert(np.zeros((68, 2)), "wflw", "300w")


def test_convert_torch_and_dtype():
    torch = pytest.importorskip("torch")
    x = torch.rand(3, 98, 2, dtype=torch.float32, requires_grad=True)
    y = convert(x, "wflw", "aflw")
    assert isinstance(y, torch.Tensor) and y.shape == (3, 19, 2) and y.dtype == torch.float32
    np.testing.assert_allclose(
        y.detach().numpy(), convert(x.detach().numpy(), "wflw", "aflw"), rtol=1e-5
    )
    y.sum().backward()
    assert x.grad is not None
    assert convert(np.zeros((98, 2), np.float32), "wflw", "300w").dtype == np.float32


@pytest.mark.parametrize(
    "a,b,space,k,k_strict",
    [
        ("300w", "wflw", "300w", 68, 60),
        ("wflw", "300w", "300w", 68, 60),
        ("cofw", "aflw", "aflw", 19, 14),
        ("300w", "17", "17", 17, 17),
        ("wflw", "17", "17", 17, 17),
        ("cofw", "300w", "aflw", 19, 14),
        ("300vw", "300w", "300w", 68, 68),
        ("aflw", "aflw", "aflw", 19, 19),
    ],
)
def test_common_points(a, b, space, k, k_strict):
    c = common_points(a, b)
    assert c.space == space and c.num_points == k
    assert common_points(a, b, strict=True).num_points == k_strict
    rng = np.random.default_rng(5)
    xa = rng.normal(size=(2, get_scheme(a).num_points, 2))
    xb = rng.normal(size=(2, get_scheme(b).num_points, 2))
    np.testing.assert_allclose(c.to_common_a(xa), convert(xa, a, space))
    np.testing.assert_allclose(c.to_common_b(xb), convert(xb, b, space))


def test_common_points_strict_drops_eyelids():
    c = common_points("300w", "wflw", strict=True)
    dropped = np.flatnonzero(~c.keep).tolist()
    assert dropped == [37, 38, 40, 41, 43, 44, 46, 47]


def test_every_scheme_reaches_a_common_space_with_every_other():
    for a in SCHEMES:
        for b in SCHEMES:
            assert common_points(a, b).num_points >= 17


# Where a selected point legitimately carries another name in the destination scheme.
RENAMED = {
    ("300w", "17"): {1, 4, 14},  # brow tops -> brow centres; inner lower lip -> mouth centre
    ("aflw", "17"): set(),
    ("wflw", "300w"): set(range(1, 16)) | set(range(17, 27)),  # contour/brow numbering differs
}


@pytest.mark.parametrize("src,dst", sorted(TABLES))
def test_exact_selections_keep_point_names(src, dst):
    s, d = get_scheme(src), get_scheme(dst)
    table = TABLES[(src, dst)]
    renamed = RENAMED.get((src, dst), set())
    checked = 0
    for i, row in enumerate(table.rows):
        if len(row) == 1 and i not in table.approximate and i not in renamed:
            assert d.point_names[i] == s.point_names[row[0]], (src, dst, i)
            checked += 1
    assert checked >= 9
