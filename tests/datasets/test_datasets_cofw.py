import h5py
import numpy as np
import pytest
from scipy.io import savemat

from otmark.datasets import DatasetError, ImageRef, load, read_mat_image, write_cofw
from otmark.datasets.cofw import write_cofw_mat

K = 29
COLOR = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3) * 7  # H=2, W=3, RGB
GREY = np.array([[10, 20], [30, 40]], dtype=np.uint8)


def _phis():
    """Two faces: x_j = j + 1, y_j = j + 11 (1-based, MATLAB); face 0 has point 0 occluded."""
    phis = np.zeros((2, 3 * K))
    for n in range(2):
        phis[n, :K] = np.arange(K) + 1 + 100 * n
        phis[n, K : 2 * K] = np.arange(K) + 11
    phis[0, 2 * K] = 1
    return phis


BOXES = np.array([[5.0, 6.0, 10.0, 20.0], [1.0, 1.0, 3.0, 4.0]])  # x y w h, 1-based


def _hand_built_v73(path, variables=("IsTr", "phisTr", "bboxesTr")):
    """What MATLAB's save -v7.3 writes: column-major arrays, a cell of object references."""
    with h5py.File(path, "w", userblock_size=512) as f:
        refs = f.create_group("#refs#")
        a = refs.create_dataset("a", data=COLOR.T)  # (3, W, H)
        b = refs.create_dataset("b", data=GREY.T)
        for d in (a, b):
            d.attrs["MATLAB_class"] = np.bytes_("uint8")
        cell = f.create_dataset(variables[0], (1, 2), dtype=h5py.ref_dtype)
        cell[0, 0], cell[0, 1] = a.ref, b.ref
        cell.attrs["MATLAB_class"] = np.bytes_("cell")
        f.create_dataset(variables[1], data=_phis().T).attrs["MATLAB_class"] = np.bytes_("double")
        f.create_dataset(variables[2], data=BOXES.T).attrs["MATLAB_class"] = np.bytes_("double")


def _hand_built_v5(path):
    cells = np.empty((2, 1), dtype=object)
    cells[0, 0], cells[1, 0] = COLOR, GREY
    savemat(str(path), {"IsT": cells, "phisT": _phis(), "bboxesT": BOXES}, format="5")


def _check_hand_built(res, mat):
    assert len(res) == 2 and res[0].scheme == "cofw"
    a, b = res
    np.testing.assert_array_equal(a.landmarks[:, 0], np.arange(K))  # 1-based -> 0-based
    np.testing.assert_array_equal(a.landmarks[:, 1], np.arange(K) + 10)
    np.testing.assert_array_equal(b.landmarks[:, 0], np.arange(K) + 100)
    assert a.occluded[0] and not a.occluded[1:].any() and not b.occluded.any()
    np.testing.assert_array_equal(a.box, [4, 5, 14, 25])
    assert a.image.path == mat and a.image.frame == 0
    np.testing.assert_array_equal(a.load_image(), COLOR)
    grey = b.load_image()
    assert grey.shape == (2, 2, 3)
    for c in range(3):
        np.testing.assert_array_equal(grey[:, :, c], GREY)


def test_hand_built_v73(tmp_path):
    mat = tmp_path / "COFW_train_color.mat"
    _hand_built_v73(mat)
    res = load("cofw", tmp_path, "train")
    _check_hand_built(res, mat)
    assert res[0].image.member == "IsTr"


def test_hand_built_v5(tmp_path):
    mat = tmp_path / "COFW_test_color.mat"
    _hand_built_v5(mat)
    res = load("cofw", tmp_path, "test")
    _check_hand_built(res, mat)
    assert res[1].image.member == "IsT"


@pytest.mark.parametrize("version", ["7.3", "5"])
def test_round_trip(tmp_path, faces, version):
    samples, images = faces("cofw", 3, size=(20, 26))
    _, grey = faces("cofw", 1, seed=5, size=(18, 15), grey=True)
    images[2] = grey[0]
    samples[1].occluded = np.arange(K) % 3 == 0
    write_cofw(tmp_path, "train", samples, images, version=version)
    res = load("cofw", tmp_path, "train")
    assert len(res) == 3
    for got, s, img in zip(res, samples, images):
        np.testing.assert_allclose(got.landmarks, s.landmarks, atol=1e-6)
        pixels = got.load_image()
        np.testing.assert_array_equal(pixels, img if img.ndim == 3 else np.dstack([img] * 3))
        lm = s.landmarks  # default box: the landmarks' bounding box
        np.testing.assert_allclose(got.box, [*lm.min(0), *lm.max(0)], atol=1e-9)
    np.testing.assert_array_equal(res[1].occluded, samples[1].occluded)
    assert not res[0].occluded.any()


def test_v73_writer_layout_is_matlab_like(tmp_path, faces):
    samples, images = faces("cofw", 2)
    path = write_cofw_mat(
        tmp_path / "x.mat", "test", images, np.stack([s.landmarks for s in samples])
    )
    assert path.read_bytes()[:19] == b"MATLAB 7.3 MAT-file"
    with h5py.File(path, "r") as f:
        assert f["IsT"].attrs["MATLAB_class"] == b"cell"
        assert f["IsT"].shape == (1, 2) and f["phisT"].shape == (3 * K, 2)
        first = f[f["IsT"][0, 0]]
        assert first.name.startswith("/#refs#/") and first.shape == (3, 32, 24)  # (3, W, H)


def test_missing_variables(tmp_path):
    mat = tmp_path / "COFW_train_color.mat"
    _hand_built_v73(mat, variables=("IsTr", "phisX", "bboxesTr"))
    with pytest.raises(
        DatasetError, match=r"COFW_train_color.mat: MATLAB file has no variable 'phisTr'"
    ):
        load("cofw", tmp_path, "train")
    savemat(str(mat), {"foo": np.zeros(3)}, format="5")
    with pytest.raises(DatasetError, match=r"COFW_train_color.mat: MATLAB file has no variable"):
        load("cofw", tmp_path, "train")


def test_not_a_mat_file_and_missing_file(tmp_path):
    with pytest.raises(DatasetError, match="COFW_test_color.mat: COFW .mat file does not exist"):
        load("cofw", tmp_path, "test")
    (tmp_path / "COFW_test_color.mat").write_bytes(b"garbage" * 10)
    with pytest.raises(DatasetError, match="COFW_test_color.mat: not a readable MATLAB file"):
        load("cofw", tmp_path, "test")


def test_shape_mismatch_and_nan_rows(tmp_path, faces):
    samples, images = faces("cofw", 3)
    mat = write_cofw(tmp_path, "train", samples, images)
    with h5py.File(mat, "r+") as f:
        phis = f["phisTr"][()]
        phis[5, 1] = np.nan  # x of point 5, face 1
        f["phisTr"][...] = phis
    with pytest.raises(DatasetError, match=r"COFW_train_color.mat: phisTr row 2 has NaN"):
        load("cofw", tmp_path, "train")
    res = load("cofw", tmp_path, "train", on_error="skip")
    assert [s.id for s in res] == ["train/0000", "train/0002"] and len(res.skipped) == 1
    with h5py.File(mat, "r+") as f:
        del f["phisTr"]
        f.create_dataset("phisTr", data=np.zeros((3 * K, 2)))
    with pytest.raises(DatasetError, match=r"IsTr has 3 images but phisTr has 2 rows"):
        load("cofw", tmp_path, "train")
    with h5py.File(mat, "r+") as f:
        del f["phisTr"]
        f.create_dataset("phisTr", data=np.zeros((10, 3)))
    with pytest.raises(DatasetError, match=r"phisTr must be N x 87"):
        load("cofw", tmp_path, "train")


def test_read_mat_image_index_error(tmp_path):
    mat = tmp_path / "m.mat"
    _hand_built_v73(mat)
    with pytest.raises(DatasetError, match=r"m.mat: IsTr has 2 images, asked for 5"):
        read_mat_image(mat, "IsTr", 5)
    np.testing.assert_array_equal(ImageRef(mat, frame=0, member="IsTr").load(), COLOR)
