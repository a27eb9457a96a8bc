import json

import pytest

from otmark.datasets import load
from otmark.study.benchmark import STAMP, BenchmarkSize, ensure_benchmark


def test_generates_once_then_reuses_and_regenerates_on_size_change(tmp_path):
    size = BenchmarkSize(w300_train=8, wflw_train=3, vw_videos=1, vw_frames=3, image_size=64)
    logs: list[str] = []
    roots = ensure_benchmark(tmp_path, size, ("300w", "wflw"), log=logs.append)
    assert roots["300w"] == tmp_path / "300W" and roots["wflw"] == tmp_path / "WFLW"
    assert len(load("300w", roots["300w"], "train")) == 8
    assert len(load("wflw", roots["wflw"], "train")) == 3
    stamp = json.loads((tmp_path / STAMP).read_text())
    assert stamp["300w"] == {"num": 8, "seed": 0, "size": 64}

    marker = roots["300w"] / "marker.txt"
    marker.write_text("kept when reused")
    logs.clear()
    ensure_benchmark(tmp_path, size, ("300w", "wflw"), log=logs.append)
    assert marker.exists()
    assert all("reusing" in m for m in logs)

    bigger = BenchmarkSize(w300_train=10, wflw_train=3, vw_videos=1, vw_frames=3, image_size=64)
    ensure_benchmark(tmp_path, bigger, ("300w",), log=logs.append)
    assert not marker.exists()  # regenerated from scratch
    assert len(load("300w", roots["300w"], "train")) == 10
    assert json.loads((tmp_path / STAMP).read_text())["wflw"]["num"] == 3


def test_size_from_dict_names_the_source_and_key():
    assert BenchmarkSize.from_dict({"w300_train": 5}, "x.yaml").w300_train == 5
    with pytest.raises(ValueError, match=r"x\.yaml.*w300"):
        BenchmarkSize.from_dict({"w300": 5}, "x.yaml")
    with pytest.raises(ValueError, match=r"x\.yaml: benchmark.vw_frames"):
        BenchmarkSize.from_dict({"vw_frames": 0}, "x.yaml")


def test_broken_stamp_is_reported_with_its_path(tmp_path):
    (tmp_path / STAMP).write_text("{not json")
    with pytest.raises(ValueError, match=STAMP):
        ensure_benchmark(tmp_path, BenchmarkSize(), ("300w",), log=lambda m: None)
