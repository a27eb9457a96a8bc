import numpy as np
import pytest

from otmark.schemes import SCHEMES, flip_landmarks, get_scheme
from otmark.schemes.scheme import BOX, INTEROCULAR, LandmarkScheme

# Independent expectations (docs/conventions.md §1, §3, §4), written out here on purpose.
EXPECTED_COUNTS = {"300w": 68, "wflw": 98, "cofw": 29, "aflw": 19, "300vw": 68, "17": 17}
EXPECTED_NORMALISER = {"300w": (36, 45), "300vw": (36, 45), "wflw": (60, 72), "cofw": (8, 9)}
EXPECTED_PAIRS = {
    "cofw": [
        (0, 1),
        (2, 3),
        (4, 6),
        (5, 7),
        (8, 9),
        (10, 11),
        (12, 14),
        (13, 15),
        (16, 17),
        (18, 19),
        (22, 23),
    ],
    "aflw": [(0, 5), (1, 4), (2, 3), (6, 11), (7, 10), (8, 9), (12, 14), (15, 17)],
}


def _swap_side(name: str) -> str:
    if "right" in name:
        return name.replace("right", "left")
    return name.replace("left", "right")


def test_registry_names_and_counts():
    assert set(SCHEMES) == set(EXPECTED_COUNTS)
    for name, k in EXPECTED_COUNTS.items():
        s = get_scheme(name)
        assert s.name == name
        assert s.num_points == k == len(s.point_names)
        assert len(set(s.point_names)) == k


def test_aliases_and_unknown():
    assert get_scheme("68").name == "300w"
    assert get_scheme("WFLW").name == "wflw"
    assert get_scheme("19").name == "aflw"
    s = get_scheme("cofw")
    assert get_scheme(s) is s
    with pytest.raises(KeyError, match="unknown landmark scheme 'nope'"):
        get_scheme("nope")


@pytest.mark.parametrize("name", sorted(EXPECTED_COUNTS))
def test_flip_permutation_is_involution_and_swaps_sides(name):
    s = get_scheme(name)
    perm = s.flip_permutation
    assert sorted(perm.tolist()) == list(range(s.num_points))
    np.testing.assert_array_equal(perm[perm], np.arange(s.num_points))
    # The names (written independently of the pairs) must agree with the pairs: a flip maps
    # every right_* point to its left_* twin and every unsided point to itself.
    for i, j in enumerate(perm):
        assert s.point_names[j] == _swap_side(s.point_names[i]), (name, i, j)


def test_flip_pairs_match_reference_lists():
    for name, pairs in EXPECTED_PAIRS.items():
        assert list(get_scheme(name).flip_pairs) == pairs
    p68 = set(get_scheme("300w").flip_pairs)
    assert {(0, 16), (7, 9), (36, 45), (39, 42), (40, 47), (65, 67), (31, 35)} <= p68
    assert len(p68) == 29  # 8 jaw + 5 brow + 2 nose + 6 eye + 8 mouth
    p98 = set(get_scheme("wflw").flip_pairs)
    assert {(0, 32), (15, 17), (38, 50), (41, 47), (60, 72), (96, 97), (93, 95)} <= p98
    assert len(p98) == 16 + 9 + 2 + 8 + 8 + 1


def test_normaliser_indices():
    for name, idx in EXPECTED_NORMALISER.items():
        s = get_scheme(name)
        assert s.normaliser_kind == INTEROCULAR
        assert s.normaliser_indices == idx
        assert "eye_outer" in s.point_names[idx[0]] and "eye_outer" in s.point_names[idx[1]]
    assert get_scheme("aflw").normaliser_kind == BOX
    s17 = get_scheme("17")
    assert [s17.point_names[i] for i in s17.normaliser_indices] == [
        "right_eye_outer",
        "left_eye_outer",
    ]


def test_regions_partition_points():
    for name in SCHEMES:
        s = get_scheme(name)
        idx = sorted(i for r in s.regions.values() for i in r)
        assert idx == list(range(s.num_points))
        with pytest.raises(TypeError):
            s.regions["new"] = (0,)  # read-only


def test_scheme_validation_rejects_inconsistent_data():
    with pytest.raises(ValueError, match="names"):
        LandmarkScheme("x", 2, ("a",), {"r": (0, 1)}, (), BOX, None)
    with pytest.raises(ValueError, match="unique"):
        LandmarkScheme("x", 2, ("a", "a"), {"r": (0, 1)}, (), BOX, None)
    with pytest.raises(ValueError, match="flip pairs"):
        LandmarkScheme("x", 2, ("a", "b"), {"r": (0, 1)}, ((0, 2),), BOX, None)
    with pytest.raises(ValueError, match="regions"):
        LandmarkScheme("x", 2, ("a", "b"), {"r": (0,)}, (), BOX, None)
    with pytest.raises(ValueError, match="normaliser"):
        LandmarkScheme("x", 2, ("a", "b"), {"r": (0, 1)}, (), INTEROCULAR, (0, 5))


def test_flip_landmarks_hand_worked():
    s = get_scheme("aflw")
    lm = np.zeros((19, 2))
    lm[0] = (10.0, 20.0)  # right_brow_outer, its twin is 5
    lm[5] = (90.0, 21.0)
    out = flip_landmarks(lm, s, width=100)
    # x -> 99 - x (pixel centres at integers), then point 0 takes mirrored point 5
    np.testing.assert_allclose(out[0], (9.0, 21.0))
    np.testing.assert_allclose(out[5], (89.0, 20.0))
    np.testing.assert_allclose(flip_landmarks(out, s, 100), lm)
    with pytest.raises(ValueError, match="scheme aflw"):
        flip_landmarks(np.zeros((5, 2)), s, 100)


def test_flip_landmarks_torch():
    torch = pytest.importorskip("torch")
    s = get_scheme("cofw")
    x = torch.rand(2, 29, 2) * 50
    out = flip_landmarks(x, s, 64)
    assert isinstance(out, torch.Tensor)
    ref = flip_landmarks(x.numpy(), s, 64)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-6)
    assert not torch.equal(out, x)
