import numpy as np
import pytest

from otmark.datasets.fileio import (
    atomic_path,
    format_number,
    write_image,
    write_text_atomic,
)


def test_atomic_path_replaces_on_success_only(tmp_path):
    target = tmp_path / "sub" / "f.txt"
    write_text_atomic(target, "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("writer failed")
    assert target.read_text() == "old"
    assert [p.name for p in target.parent.iterdir()] == ["f.txt"]
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp.suffix == ".txt"
        tmp.write_text("new")
    assert target.read_text() == "new"


def test_png_is_lossless_and_rgb(tmp_path):
    import cv2

    img = np.random.default_rng(0).integers(0, 256, (7, 9, 3), dtype=np.uint8)
    write_image(tmp_path / "x.png", img)
    back = cv2.imread(str(tmp_path / "x.png"), cv2.IMREAD_COLOR)
    np.testing.assert_array_equal(back[:, :, ::-1], img)  # file is BGR, memory RGB
    with pytest.raises(ValueError, match="uint8"):
        write_image(tmp_path / "y.png", img.astype(np.float32))


@pytest.mark.parametrize("v", [0.1, 1 / 3, 123456.789, -2.5e-7, 1e16, 0.0])
def test_format_number_round_trips(v):
    s = format_number(v)
    assert "e" not in s.lower() and float(s) == v
