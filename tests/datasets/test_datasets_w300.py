import numpy as np
import pytest

from otmark.datasets import DatasetError, load, write_300w
from otmark.datasets.w300 import FOLDERS, SPLITS


def _write_all(root, faces, per_folder=2):
    """Write ``per_folder`` faces into every folder of the layout; returns folder -> (s, imgs)."""
    out = {}
    for j, folder in enumerate(FOLDERS):
        samples, images = faces("300w", per_folder, seed=j)
        suffix = ".jpg" if folder.startswith("helen") else ".png"
        if suffix == ".jpg":
            write_300w(root, folder, samples, images, suffix=suffix)
        else:
            write_300w(root, folder, samples, images)
        out[folder] = (samples, images)
    return out


def test_split_definitions():
    assert SPLITS["full"] == SPLITS["common"] + SPLITS["challenge"]
    assert set(SPLITS["train"]) == {"lfpw/trainset", "helen/trainset", "afw"}


def test_round_trip_every_split(tmp_path, faces):
    written = _write_all(tmp_path, faces)
    for split, folders in SPLITS.items():
        res = load("300w", tmp_path, split)
        assert len(res) == 2 * len(folders) and not res.skipped
        for folder in folders:
            samples, images = written[folder]
            got = [s for s in res if s.attributes["subset"] == folder]
            assert [s.id for s in got] == [f"{folder}/face_000", f"{folder}/face_001"]
            for g, s, img in zip(got, samples, images):
                assert g.scheme == "300w" and g.landmarks.shape == (68, 2)
                np.testing.assert_allclose(g.landmarks, s.landmarks, atol=1e-6)
                pixels = g.load_image()
                assert pixels.shape == img.shape and pixels.dtype == np.uint8
                if folder.startswith("helen"):  # JPEG is lossy
                    assert np.abs(pixels.astype(int) - img).mean() < 4
                else:
                    np.testing.assert_array_equal(pixels, img)


def test_pts_on_disk_is_one_based(tmp_path, faces):
    samples, images = faces("300w", 1)
    samples[0].landmarks[0] = (0.0, 0.0)
    write_300w(tmp_path, "ibug", samples, images)
    lines = (tmp_path / "ibug" / "face_000.pts").read_text().splitlines()
    assert lines[:3] == ["version: 1", "n_points: 68", "{"] and lines[3] == "1 1"


def _one_folder(tmp_path, faces, n=3):
    samples, images = faces("300w", n)
    write_300w(tmp_path, "ibug", samples, images)
    return tmp_path / "ibug"


def test_missing_image(tmp_path, faces):
    d = _one_folder(tmp_path, faces)
    (d / "face_001.png").unlink()
    with pytest.raises(DatasetError, match=r"face_001.pts: no image face_001"):
        load("300w", tmp_path, "challenge")
    res = load("300w", tmp_path, "challenge", on_error="skip")
    assert [s.id for s in res] == ["ibug/face_000", "ibug/face_002"]
    assert len(res.skipped) == 1 and res.skipped[0][0].endswith("face_001.pts")


def test_malformed_and_wrong_count_pts(tmp_path, faces):
    d = _one_folder(tmp_path, faces)
    text = (d / "face_000.pts").read_text().splitlines()
    (d / "face_000.pts").write_text("\n".join(text[:20]) + "\n")  # truncated
    (d / "face_002.pts").write_text("version: 1\nn_points: 2\n{\n1 1\n2 2\n}\n")
    with pytest.raises(DatasetError, match=r"face_000.pts:21: truncated"):
        load("300w", tmp_path, "challenge")
    res = load("300w", tmp_path, "challenge", on_error="skip")
    assert len(res) == 1 and len(res.skipped) == 2
    assert "face_002.pts:2" in res.skipped[1][0] and "expected 68" in res.skipped[1][1]
    assert res.summary() == "1 samples, 2 skipped, 0 excluded"


def test_nan_in_pts(tmp_path, faces):
    d = _one_folder(tmp_path, faces, n=1)
    lines = (d / "face_000.pts").read_text().splitlines()
    lines[10] = "nan 3"
    (d / "face_000.pts").write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError, match=r"face_000.pts:11: non-finite"):
        load("300w", tmp_path, "challenge")


def test_missing_root_and_folder(tmp_path, faces):
    with pytest.raises(DatasetError, match="nowhere: dataset root does not exist"):
        load("300w", tmp_path / "nowhere", "train")
    _one_folder(tmp_path, faces, n=1)
    with pytest.raises(DatasetError, match=r"lfpw/trainset: folder of 300W split 'train'"):
        load("300w", tmp_path, "train")


def test_writer_checks(tmp_path, faces):
    samples, images = faces("300w", 1)
    with pytest.raises(ValueError, match="folder"):
        write_300w(tmp_path, "somewhere", samples, images)
    bad, bad_images = faces("wflw", 1)
    with pytest.raises(ValueError, match=r"\(68, 2\)"):
        write_300w(tmp_path, "afw", bad, bad_images)
