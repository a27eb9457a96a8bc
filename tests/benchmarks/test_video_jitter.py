"""``benchmarks/video_jitter.py``: runs are scored on all their frames and on the frames where
the first run has a face, with the frames and frame pairs each score covers."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from otmark.datasets.pts import write_pts
from otmark.inference.results import Face, FrameResult, write_results_json

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "video_jitter.py"


@pytest.fixture(scope="module")
def vj():
    spec = importlib.util.spec_from_file_location("video_jitter", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _truth(k: int) -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.uniform(40, 160, size=(68, 2)) + np.array([2.0 * k, 0.0])


def _run(folder: Path, frames: list[int], shake: float) -> Path:
    results = []
    for k in range(4):
        faces = []
        if k in frames:
            pts = _truth(k) + np.array([shake * (-1) ** k, 0.0])
            faces = [Face(np.array([40.0, 40, 160, 160]), pts)]
        results.append(FrameResult("vid.avi", k, 200, 200, faces))
    write_results_json(folder / "landmarks.json", results, "300w", 68)
    return folder


def test_common_frames_and_pairs(tmp_path, vj, capsys):
    video = tmp_path / "v" / "vid.avi"
    for k in range(4):
        write_pts(tmp_path / "v" / "annot" / f"{k + 1:06d}.pts", _truth(k))
    base = _run(tmp_path / "base", [0, 1, 3], 0.0)  # frame 2 without a face: 1 pair
    shaky = _run(tmp_path / "shaky", [0, 1, 2, 3], 1.0)
    assert vj.main([str(video), str(base), str(shaky)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "all 0.00 / 0.00 (3 frames, 1 pairs)" in out[0]
    every, common = out[1].split("; common ")
    assert every.endswith("(4 frames, 3 pairs)") and "(3 frames, 1 pairs)" in common
    # the shake of +-1 px: the same jitter per pair on all frames and on the common ones
    assert every.split(" / ")[1].split(" ")[0] == common.split(" / ")[1].split(" ")[0] != "0.00"
    assert vj.main([str(video), str(tmp_path / "nowhere")]) == 2
    assert "nowhere" in capsys.readouterr().err
