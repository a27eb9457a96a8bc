import json

import pytest

from otmark.datasets import load
from otmark.study.benchmark import BLUR_POOL, STAMP, BenchmarkSize, ensure_benchmark
from otmark.study.blur_pool import pool_videos
from otmark.study.scoring import load_protocols


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


def test_blur_pool_is_generated_with_the_300vw_benchmark_and_scored_by_the_blur_protocols(
    tmp_path,
):
    size = BenchmarkSize(vw_videos=1, vw_frames=3, image_size=48, blur_pool=2)
    roots = ensure_benchmark(tmp_path, size, ("300vw",), log=lambda m: None)
    pool = roots[BLUR_POOL]
    assert pool == tmp_path / "300VW-blur-pool" and pool_videos(pool) == ["pool000", "pool001"]
    assert json.loads((tmp_path / STAMP).read_text())[BLUR_POOL] == {
        "num": 2, "frames": 3, "seed": 0, "size": 48
    }
    protocols = load_protocols(["blur-large", "300w-300vw-s3"], roots)
    blur = protocols["blur-large"]
    assert blur.ids == [f"pool00{v}/00000{f}" for v in (0, 1) for f in (1, 2, 3)]
    assert blur.input_image(1).shape == (48, 48, 3)
    # the clean 300VW protocols keep the benchmark's own test3 videos
    assert not any(i.startswith("pool") for i in protocols["300w-300vw-s3"].ids)
    # without a pool the blur protocols score 300VW test3, and the pool adds nothing to keys
    roots.pop(BLUR_POOL)
    assert load_protocols(["blur-large"], roots)["blur-large"].ids == (
        protocols["300w-300vw-s3"].ids
    )
    assert "blur_pool" not in BenchmarkSize().key() and size.key()["blur_pool"] == 2
    assert "blur_pool_frames" not in size.key()
    short = BenchmarkSize(vw_frames=30, blur_pool=4, blur_pool_frames=10)
    assert short.dataset_args(BLUR_POOL)["frames"] == 10 and short.key()["blur_pool_frames"] == 10


def test_a_pool_without_its_manifest_is_named_as_incomplete(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"pool\.json: no blur-pool manifest"):
        pool_videos(tmp_path)
    (tmp_path / "pool.json").write_text('{"format": "x"}')
    with pytest.raises(ValueError, match=r"pool\.json: not a blur-pool manifest"):
        pool_videos(tmp_path)
