"""``otmark evaluate`` on a video protocol reports the jitter beside the NME."""

from __future__ import annotations

import json

import numpy as np
import pytest

from otmark.cli.main import main
from otmark.datasets.vw300 import write_300vw_video
from otmark.datasets.vw300_lists import TEST1
from otmark.protocols.predictions import from_arrays, write_predictions
from otmark.schemes import normaliser


def test_300vw_protocol_reports_jitter(tmp_path, capsys):
    root = tmp_path / "300VW"
    video = TEST1[0]
    rng = np.random.default_rng(0)
    base = rng.uniform(30, 90, (68, 2))
    lms = [base + [2.0 * f, 0.0] for f in range(4)]  # the face moves 2 px right per frame
    frames = [rng.integers(0, 256, (120, 160, 3), dtype=np.uint8) for _ in range(4)]
    write_300vw_video(root, video, frames, lms)
    ids = [f"{video}/{n:06d}" for n in range(1, 5)]
    d = 1.0  # predictions shake +-1 px vertically: 2 px beyond the motion per frame pair
    pred = np.stack([lm + [0.0, d * (-1) ** f] for f, lm in enumerate(lms)])
    path = write_predictions(tmp_path / "pred.json", from_arrays(ids, pred, "300vw"))
    out = tmp_path / "out"
    rc = main(
        [
            "evaluate",
            "--protocol",
            "300vw-s1",
            "--data-root",
            str(root),
            "--predictions",
            str(path),
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    expected = 100 * 2 * d / normaliser(np.stack(lms), "300vw")[0]
    doc = json.loads((out / "results.json").read_text())
    assert doc["jitter"]["frames"] == 3 and doc["jitter"]["jitter"] == pytest.approx(expected)
    assert f"jitter {expected:.2f}% (3 frame pairs)" in capsys.readouterr().out
