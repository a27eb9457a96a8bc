"""Scoring ``otmark detect`` results against the annotations beside a 300VW-layout video."""

from __future__ import annotations

import json

import numpy as np
import pytest

from otmark.datasets.vw300 import write_300vw_video
from otmark.inference.annotations import score_video, video_annotations
from otmark.inference.results import Face, FrameResult
from otmark.schemes import normaliser


def _truth(n=4):
    base = np.random.default_rng(0).uniform(30, 90, (68, 2))
    return {f: base + [2.0 * f, 0.0] for f in range(n)}


def _results(truth, offsets, missing=()):
    out = []
    for f, gt in truth.items():
        faces = [] if f in missing else [Face(np.zeros(4), gt + offsets[f])]
        out.append(FrameResult("vid.avi", f, 160, 120, faces))
    return out


def test_hand_worked_nme_and_jitter():
    """Offsets (0, 1), (0, -1), (0, 1), (0, -1): every point is 1 px off (NME = 1 / d) and
    moves 2 px beyond the truth between frames (jitter = 2 / d)."""
    truth = _truth()
    d = normaliser(np.stack(list(truth.values())), "300vw")[0]
    offsets = {f: np.array([0.0, (-1.0) ** f]) for f in truth}
    doc = score_video(_results(truth, offsets), truth, "300w")
    assert doc["nme"] == pytest.approx(100 / d) and doc["jitter"] == pytest.approx(200 / d)
    assert doc["frames_scored"] == 4 and doc["annotated_without_face"] == []


def test_frames_without_a_face_are_counted_not_scored():
    truth = _truth()
    zero = {f: np.zeros(2) for f in truth}
    doc = score_video(_results(truth, zero, missing={2}), truth, "300vw")
    assert doc["annotated_without_face"] == [2] and doc["frames_scored"] == 3
    assert doc["nme"] == pytest.approx(0.0) and doc["jitter"] == pytest.approx(0.0)


def test_annotations_read_beside_the_video_and_scored_by_detect(tmp_path, capsys):
    from otmark.cli.main import main
    from otmark.models import create_model
    from otmark.schemes import get_scheme

    truth = _truth(3)
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 256, (120, 160, 3), dtype=np.uint8) for _ in truth]
    folder = write_300vw_video(tmp_path, "001", frames, list(truth.values()))
    read = video_annotations(folder / "vid.avi")
    assert sorted(read) == [0, 1, 2]
    np.testing.assert_allclose(read[1], truth[1], atol=1e-3)
    assert video_annotations(tmp_path / "elsewhere" / "v.avi") is None
    import torch

    torch.manual_seed(0)
    ckpt = tmp_path / "tiny.pt"
    torch.save(
        {
            "model_name": "hrnet_tiny",
            "model_kwargs": {"num_landmarks": 68},
            "model": create_model("hrnet_tiny", get_scheme("300w").num_points).state_dict(),
            "scheme": "300w",
            "codec": {"input_size": 64, "heatmap_size": 16, "sigma": 1.5, "decoder": "get_max"},
        },
        ckpt,
    )
    out = tmp_path / "out"
    argv = ["detect", str(folder / "vid.avi"), "--checkpoint", str(ckpt), "--out", str(out)]
    assert main([*argv, "--whole-image", "--no-overlay"]) == 0
    doc = json.loads((out / "landmarks.json").read_text())
    assert doc["evaluation"]["frames_scored"] == 3 and doc["evaluation"]["nme"] > 0
    assert "vid.avi: against its annotations (3 of 3 annotated frames): NME" in (
        capsys.readouterr().out
    )
