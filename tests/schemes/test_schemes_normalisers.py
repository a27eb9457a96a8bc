import numpy as np
import pytest

from otmark.schemes import convert, get_scheme, normaliser


def test_interocular_hand_worked():
    lm = np.zeros((2, 68, 2))
    lm[0, 36] = (10, 10)
    lm[0, 45] = (13, 14)  # distance 5
    lm[1, 36] = (0, 0)
    lm[1, 45] = (0, 2)
    np.testing.assert_allclose(normaliser(lm, "300w"), [5.0, 2.0])
    np.testing.assert_allclose(normaliser(lm, "300vw"), [5.0, 2.0])


@pytest.mark.parametrize("name,i,j", [("wflw", 60, 72), ("cofw", 8, 9), ("17", 6, 9)])
def test_interocular_indices(name, i, j):
    k = get_scheme(name).num_points
    lm = np.zeros((1, k, 2))
    lm[0, i] = (1.0, 1.0)
    lm[0, j] = (4.0, 5.0)
    np.testing.assert_allclose(normaliser(lm, name), [5.0])


def test_normaliser_preserved_by_conversion():
    x = np.random.default_rng(0).normal(size=(3, 98, 2)) * 40
    n98 = normaliser(x, "wflw")
    np.testing.assert_allclose(normaliser(convert(x, "wflw", "300w"), "300w"), n98)
    np.testing.assert_allclose(normaliser(convert(x, "wflw", "17"), "17"), n98)


def test_box_normaliser():
    lm = np.zeros((2, 19, 2))
    np.testing.assert_allclose(normaliser(lm, "aflw", box_sizes=[100.0, 50.0]), [100.0, 50.0])
    boxes = np.array([[0, 0, 4, 9], [10, 10, 20, 20]], float)
    np.testing.assert_allclose(normaliser(lm, "aflw", boxes=boxes), [6.0, 10.0])
    # box_sizes wins over boxes (HRNet uses the csv's box_size)
    np.testing.assert_allclose(normaliser(lm, "aflw", boxes=boxes, box_sizes=[1, 2]), [1, 2])
    with pytest.raises(ValueError, match="box_sizes or boxes"):
        normaliser(lm, "aflw")
    with pytest.raises(ValueError, match=r"box_sizes must be \(2,\)"):
        normaliser(lm, "aflw", box_sizes=[1.0])


def test_shape_errors():
    with pytest.raises(ValueError, match=r"\(N, 68, 2\)"):
        normaliser(np.zeros((1, 98, 2)), "300w")
