import errno
import json
import os
import stat
from pathlib import Path

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


@pytest.mark.parametrize("umask, mode", [(0o027, 0o640), (0o077, 0o600), (0o002, 0o664)])
def test_every_writer_gives_the_umask_mode(tmp_path, umask, mode):
    from otmark.atomic import save_figure_atomic, write_bytes_atomic
    from otmark.baselines import MeanShape

    class Figure:  # the one method save_figure_atomic uses, writing a known payload
        def savefig(self, path, **kwargs):
            Path(path).write_bytes(b"fig" + str(sorted(kwargs)).encode())

    img = np.zeros((2, 3, 3), dtype=np.uint8)
    old = os.umask(umask)
    try:
        paths = [
            write_bytes_atomic(tmp_path / "b.bin", b"x"),
            write_text_atomic(tmp_path / "t.txt", "x"),
            write_json_atomic(tmp_path / "j.json", [1]),
            write_image_atomic(tmp_path / "i.png", img),
            save_torch_atomic({}, tmp_path / "c.pt"),
            save_figure_atomic(Figure(), tmp_path / "f.png", dpi=50),
            MeanShape("300w", np.zeros((3, 2)), "landmarks", 1).save(tmp_path / "m.json"),
        ]
    finally:
        os.umask(old)
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in paths} == {
        p.name: mode for p in paths
    }
    assert (tmp_path / "f.png").read_bytes() == b"fig['dpi']"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)


def test_temporary_names_are_recognisable_and_keep_the_suffix(tmp_path):
    from otmark.atomic import is_temporary_name
    from otmark.cli.main import describe_error

    seen = []
    with atomic_path(tmp_path / "sub" / "ced_image.png") as tmp:
        seen.append(tmp)
        assert tmp.parent == tmp_path / "sub" and tmp.suffix == ".png"
        assert tmp.name.startswith(".ced_image.tmp.")
        assert is_temporary_name(tmp) and is_temporary_name(str(tmp))
        tmp.write_bytes(b"png")
    assert not seen[0].exists() and (tmp_path / "sub" / "ced_image.png").read_bytes() == b"png"
    for name in ("ced_image.png", ".hidden", "a.tmp.png", ".ced.png"):
        assert not is_temporary_name(tmp_path / name), name
    full = OSError(errno.ENOSPC, "No space left on device", str(seen[0]))
    assert describe_error(full) == f"{tmp_path / 'sub'}: no space left on device"


def test_a_full_disk_names_the_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    from otmark.atomic import save_figure_atomic
    from otmark.cli.main import describe_error

    class Figure:
        def savefig(self, path, **kwargs):
            raise OSError(errno.ENOSPC, "No space left on device")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    for name in ("c.pt", "f.png"):
        write_text_atomic(tmp_path / name, "old")
    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError) as info:
        save_torch_atomic({"w": torch.zeros(2)}, tmp_path / "c.pt")
    assert describe_error(info.value) == f"{tmp_path / 'c.pt'}: no space left on device"
    with pytest.raises(OSError) as info:
        save_figure_atomic(Figure(), tmp_path / "f.png")
    assert describe_error(info.value) == f"{tmp_path / 'f.png'}: no space left on device"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.pt", "f.png"]
    assert (tmp_path / "c.pt").read_text() == "old" == (tmp_path / "f.png").read_text()
