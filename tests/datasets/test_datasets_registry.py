import numpy as np
import pytest

from otmark.datasets import DATASETS, DatasetError, LoadResult, dataset_info, load, write_300w
from otmark.datasets.errors import Collector
from otmark.schemes import get_scheme


def test_registry_entries():
    assert set(DATASETS) == {"300w", "300w-csv", "wflw", "cofw", "aflw", "300vw"}
    for info in DATASETS.values():
        assert get_scheme(info.scheme).name == info.scheme and info.splits
    assert dataset_info("WFLW").scheme == "wflw"
    assert DATASETS["aflw"].splits == ("train", "full", "frontal")
    assert DATASETS["300w"].splits == ("train", "common", "challenge", "full", "test")


def test_unknown_name_split_and_policy(tmp_path):
    with pytest.raises(KeyError, match="unknown dataset 'foo'"):
        load("foo", tmp_path, "train")
    with pytest.raises(ValueError, match="unknown split 'valid'"):
        load("300w", tmp_path, "valid")
    with pytest.raises(ValueError, match="on_error must be one of"):
        Collector("ignore")


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_missing_root_names_it(tmp_path, name):
    with pytest.raises(DatasetError, match=r"missing_root: dataset root does not exist"):
        load(name, tmp_path / "missing_root", DATASETS[name].splits[0])


def test_load_result_is_a_sequence(tmp_path, faces):
    samples, images = faces("300w", 3)
    write_300w(tmp_path, "ibug", samples, images)
    res = load("300w", tmp_path, "challenge")
    assert isinstance(res, LoadResult)
    assert (
        len(res) == 3
        and res[1].id == "ibug/face_001"
        and [s.id for s in res[1:]]
        == [
            "ibug/face_001",
            "ibug/face_002",
        ]
    )
    assert list(res) == res.samples


def test_load_does_not_decode_images(tmp_path, faces, monkeypatch):
    import cv2

    samples, images = faces("300w", 4)
    write_300w(tmp_path, "ibug", samples, images)
    calls = []

    def spy(*args, **kwargs):
        calls.append(args)
        raise AssertionError("load() must not decode images")

    monkeypatch.setattr(cv2, "imread", spy)
    monkeypatch.setattr(cv2, "imdecode", spy)
    res = load("300w", tmp_path, "challenge")
    assert len(res) == 4 and not calls
    monkeypatch.undo()
    np.testing.assert_array_equal(res[0].load_image(), images[0])
