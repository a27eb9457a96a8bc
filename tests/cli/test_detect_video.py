"""``otmark detect``: videos without a face, several inputs at once, the video flags."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from otmark.cli.main import main
from otmark.inference import read_results_json

SCHEME = "aflw"
CODEC = {"input_size": 64, "heatmap_size": 16, "sigma": 1.5, "decoder": "get_bc", "softmax": True}


def _png(path, seed, shape=(48, 64)):
    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.random.default_rng(seed).integers(0, 256, (*shape, 3), dtype=np.uint8)
    assert cv2.imwrite(str(path), img)
    return path


def _grey_video(path, frames=5, shape=(48, 64)):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, shape[::-1])
    for i in range(frames):
        writer.write(np.full((*shape, 3), 60 + 10 * i, np.uint8))
    writer.release()
    return path


def _detect(ckpt, *args):
    return main(["detect", *map(str, args), "--checkpoint", str(ckpt), "--finder", "haar"])


def test_video_without_a_face_ends_normally_and_names_the_frames(tmp_path, ckpt, capsys):
    video = _grey_video(tmp_path / "empty.avi")
    assert _detect(ckpt, video, "--out", tmp_path / "out", "--no-overlay") == 0
    out = capsys.readouterr().out
    assert "empty.avi: no face in frame(s) 0-4 (5); face finder run on 5 frame(s)" in out
    doc = json.loads((tmp_path / "out" / "landmarks.json").read_text())
    assert doc["tracking"]["tracked"] and doc["tracking"]["finder_frames"] == [0, 1, 2, 3, 4]
    assert [len(i["faces"]) for i in doc["items"]] == [0] * 5


def test_no_track_keeps_finding_on_every_frame(tmp_path, ckpt, capsys):
    video = _grey_video(tmp_path / "v.avi", frames=3)
    assert _detect(ckpt, video, "--out", tmp_path / "o", "--no-overlay", "--no-track") == 0
    assert "v.avi: no face in frame(s) 0-2 (3)" in capsys.readouterr().out
    doc = json.loads((tmp_path / "o" / "landmarks.json").read_text())
    assert doc["tracking"]["tracked"] is False and "finder_frames" not in doc["tracking"]


def test_several_inputs_share_one_result_file(tmp_path, ckpt, capsys):
    a, b = _png(tmp_path / "a.png", 0), _png(tmp_path / "x" / "b.png", 1)
    folder = tmp_path / "dir"
    _png(folder / "c.png", 2)
    _png(folder / "d.png", 3)
    video = _grey_video(tmp_path / "v.avi", frames=2)
    out = tmp_path / "out"
    rc = _detect(ckpt, a, b, folder, video, "--out", out, "--whole-image", "--no-overlay")
    assert rc == 0
    _, results = read_results_json(out / "landmarks.json")
    assert [(r.source, r.frame) for r in results] == [
        ("a.png", None),
        ("b.png", None),
        ("dir/c.png", None),
        ("dir/d.png", None),
        ("v.avi", 0),
        ("v.avi", 1),
    ]
    assert all(len(r.faces) == 1 for r in results)
    assert "6 image(s)/frame(s), 6 face(s)" in capsys.readouterr().out


def test_two_inputs_with_the_same_name_refused(tmp_path, ckpt, capsys):
    a, b = _png(tmp_path / "p" / "a.png", 0), _png(tmp_path / "q" / "a.png", 1)
    assert _detect(ckpt, a, b, "--out", tmp_path / "out", "--whole-image") == 2
    err = capsys.readouterr().err
    assert "already gave an image named 'a.png'" in err and str(b) in err


def test_a_missing_second_input_named(tmp_path, ckpt, capsys):
    a = _png(tmp_path / "a.png", 0)
    assert _detect(ckpt, a, tmp_path / "nope.png", "--out", tmp_path / "o", "--whole-image") == 2
    assert "nope.png" in capsys.readouterr().err


@pytest.mark.parametrize(
    "flag, value",
    [
        ("--track-threshold", "1.5"),
        ("--redetect-every", "-1"),
        ("--smooth-min-cutoff", "0"),
        ("--smooth-beta", "-1"),
        ("--smooth-centre-min-cutoff", "0"),
        ("--smooth-centre-beta", "-1"),
    ],
)
def test_bad_video_flags_named(tmp_path, ckpt, capsys, flag, value):
    video = _grey_video(tmp_path / "v.avi", frames=1)
    assert _detect(ckpt, video, "--out", tmp_path / "o", flag, value) == 2
    assert flag in capsys.readouterr().err


def test_cli_defaults_are_the_library_defaults():
    import argparse

    from otmark.cli.detect import add_arguments
    from otmark.inference.tracking import VideoOptions

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["x.png"])
    ref = VideoOptions()
    assert (args.track_threshold, args.redetect_every) == (ref.threshold, ref.redetect_every)
    assert (args.smooth_min_cutoff, args.smooth_beta, args.smooth) == (
        ref.min_cutoff,
        ref.beta,
        ref.smooth,
    )
    assert (args.smooth_centre_min_cutoff, args.smooth_centre_beta) == (
        ref.centre_min_cutoff,
        ref.centre_beta,
    )
