import json
import os
import stat

import cv2
import numpy as np
import pytest
import torch

from otmark.atomic import (
    atomic_path,
    save_torch_atomic,
    write_image_atomic,
    write_json_atomic,
    write_text_atomic,
)


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "out.txt"
    write_text_atomic(target, "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_permissions_follow_the_umask_not_mkstemp(tmp_path):
    old = os.umask(0o022)
    try:
        path = write_json_atomic(tmp_path / "a" / "b.json", {"x": [1, 2]})
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert json.loads(path.read_text()) == {"x": [1, 2]}


def test_image_and_torch_round_trips(tmp_path):
    img = np.random.default_rng(0).integers(0, 255, (5, 7, 3), dtype=np.uint8)
    write_image_atomic(tmp_path / "i.png", img)
    back = cv2.cvtColor(cv2.imread(str(tmp_path / "i.png")), cv2.COLOR_BGR2RGB)
    assert np.array_equal(back, img)
    with pytest.raises(ValueError, match="i.xyz"):
        write_image_atomic(tmp_path / "i.xyz", img)
    with pytest.raises(ValueError, match="uint8"):
        write_image_atomic(tmp_path / "f.png", img.astype(np.float32))
    save_torch_atomic({"w": torch.arange(3)}, tmp_path / "c.pt")
    assert torch.load(tmp_path / "c.pt")["w"].tolist() == [0, 1, 2]
