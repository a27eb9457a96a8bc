import numpy as np
import pytest

from otmark.datasets import DatasetError, load, write_wflw
from otmark.datasets.wflw import ATTRIBUTES, SPLITS, list_path


def _hand_line(image="0--Parade/a.jpg", flags="1 0 0 0 1 0"):
    coords = " ".join(f"{i}.25 {i + 100}.5" for i in range(98))
    return f"{coords} 3 4 150 160 {flags} {image}"


def _setup(tmp_path, lines, images=("0--Parade/a.jpg",)):
    import cv2

    for rel in images:
        p = tmp_path / "WFLW_images" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(p), np.zeros((8, 8, 3), np.uint8))
    lp = list_path(tmp_path, "test")
    lp.parent.mkdir(parents=True, exist_ok=True)
    lp.write_text("\n".join(lines) + "\n")
    return lp


def test_hand_written_line_is_zero_based(tmp_path):
    _setup(tmp_path, [_hand_line()])
    (s,) = load("wflw", tmp_path, "test")
    np.testing.assert_array_equal(s.landmarks[0], [0.25, 100.5])  # unchanged: 0-based on disk
    np.testing.assert_array_equal(s.landmarks[97], [97.25, 197.5])
    np.testing.assert_array_equal(s.box, [3, 4, 150, 160])
    assert s.attributes["pose"] == 1 and s.attributes["occlusion"] == 1
    assert s.attributes["blur"] == 0 and s.attributes["image_path"] == "0--Parade/a.jpg"
    assert s.id == "0--Parade/a.jpg@1" and s.scheme == "wflw"


def test_subsets_follow_flags(tmp_path):
    lines = [_hand_line(flags=" ".join("1" if j == i else "0" for j in range(6))) for i in range(6)]
    lines.append(_hand_line(flags="0 0 0 0 0 0"))
    _setup(tmp_path, lines)
    assert len(load("wflw", tmp_path, "test")) == 7
    for i, attr in enumerate(ATTRIBUTES):
        res = load("wflw", tmp_path, f"test_{attr}")
        assert [s.id for s in res] == [f"0--Parade/a.jpg@{i + 1}"]
    assert set(SPLITS) == {"train", "test"} | {f"test_{a}" for a in ATTRIBUTES}


def test_round_trip(tmp_path, faces):
    samples, images = faces("wflw", 3, size=(30, 40))
    samples[1].attributes.update(expression=1, blur=1)
    samples[2].box = np.array([1.5, 2.0, 20.0, 25.0])
    names = ["1--Handshaking/x.png", "1--Handshaking/x.png", "2--Demo/y.png"]  # 2 faces, 1 image
    write_wflw(tmp_path, "train", samples, [images[0], images[0], images[2]], names=names)
    res = load("wflw", tmp_path, "train")
    assert len(res) == 3
    for got, s in zip(res, samples):
        np.testing.assert_allclose(got.landmarks, s.landmarks, atol=1e-6)
    assert res[1].attributes["expression"] == 1 and res[1].attributes["blur"] == 1
    assert res[0].attributes["expression"] == 0
    np.testing.assert_array_equal(res[2].box, [1.5, 2.0, 20.0, 25.0])
    lm = samples[0].landmarks
    np.testing.assert_array_equal(res[0].box, [*np.floor(lm.min(0)), *np.ceil(lm.max(0))])
    np.testing.assert_array_equal(res[1].load_image(), images[0])
    np.testing.assert_array_equal(res[2].load_image(), images[2])


@pytest.mark.parametrize(
    "line,message",
    [
        (_hand_line().rsplit(" ", 2)[0] + " 0--Parade/a.jpg", "expected 207 fields"),
        (_hand_line().replace("5.25", "five", 1), "non-numeric number: 'five'"),
        (_hand_line().replace("5.25", "nan", 1), "NaN or infinite"),
        (_hand_line(flags="2 0 0 0 0 0"), "flags must be 0 or 1"),
        (_hand_line(image="0--Parade/missing.jpg"), "missing.jpg does not exist"),
    ],
)
def test_errors_name_file_and_line(tmp_path, line, message):
    lp = _setup(tmp_path, [_hand_line(), line])
    with pytest.raises(DatasetError, match=message) as info:
        load("wflw", tmp_path, "test")
    assert str(info.value).startswith(f"{lp}:2: ")
    res = load("wflw", tmp_path, "test", on_error="skip")
    assert len(res) == 1 and len(res.skipped) == 1 and res.skipped[0][0] == f"{lp}:2"


def test_missing_list(tmp_path):
    with pytest.raises(DatasetError, match="list_98pt_rect_attr_train.txt: WFLW annotation list"):
        load("wflw", tmp_path, "train")
