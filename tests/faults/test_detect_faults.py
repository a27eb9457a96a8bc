"""Fault injection: ``otmark detect`` on bad inputs.

Each case asserts the exit code, that the one-line message (or warning) names the file or
option, that the inputs are byte for byte as they were, and that a failed run leaves an earlier
``landmarks.json`` in the output folder untouched (results are written atomically at the end).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from otmark.cli.main import main
from otmark.datasets.check import MIN_IMAGE_SIDE
from otmark.inference import read_results_json
from otmark.models import create_model
from otmark.schemes import get_scheme

SCHEME = "aflw"
CODEC = {"input_size": 64, "heatmap_size": 16, "sigma": 1.5, "decoder": "get_max"}
PREVIOUS = '{"previous": "results"}\n'


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    torch.manual_seed(0)
    k = get_scheme(SCHEME).num_points
    path = tmp_path_factory.mktemp("detect_faults") / "tiny.pt"
    torch.save(
        {
            "model_name": "hrnet_tiny",
            "model_kwargs": {"num_landmarks": k},
            "model": create_model("hrnet_tiny", k).state_dict(),
            "scheme": SCHEME,
            "codec": CODEC,
        },
        path,
    )
    return path


def _png(path: Path, seed: int, shape=(48, 64)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.random.default_rng(seed).integers(0, 256, (*shape, 3), dtype=np.uint8)
    assert cv2.imwrite(str(path), img)
    return path


def _folder(root: Path) -> Path:
    """a.png, b.jpg (truncated JPEG), c.png (not an image), d.png: two good images, two bad."""
    folder = root / "imgs"
    _png(folder / "a.png", 0)
    jpg = folder / "b.jpg"
    assert cv2.imwrite(str(jpg), np.random.default_rng(1).integers(0, 256, (48, 64, 3), np.uint8))
    jpg.write_bytes(jpg.read_bytes()[: jpg.stat().st_size * 2 // 3])  # OpenCV decodes it grey
    (folder / "c.png").write_bytes(b"garbage" * 10)
    _png(folder / "d.png", 3)
    return folder


def _video(path: Path, frames: int = 10) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
    rng = np.random.default_rng(0)
    for _ in range(frames):
        writer.write(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))
    writer.release()
    return path


def _digests(*paths: Path) -> dict[str, str]:
    files = []
    for p in paths:
        files += sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
    return {str(f): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


def _out_with_previous(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    out.mkdir()
    (out / "landmarks.json").write_text(PREVIOUS)
    return out


def _detect(ckpt, inp: Path, out: Path, capsys, *extra: str) -> tuple[int, str, str]:
    rc = main(["detect", str(inp), "--checkpoint", str(ckpt), "--out", str(out), *extra])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("otmark detect: error: ")
    return lines[0]


# --- --boxes keys that match nothing ----------------------------------------------------------


def test_box_keys_matching_no_image_exit_2_unless_allow_empty(tmp_path, ckpt, capsys):
    folder = tmp_path / "imgs"
    _png(folder / "a.png", 0), _png(folder / "b.png", 1)
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps({"A.PNG": [[4, 6, 40, 44]], "photo_b.png": [[1, 1, 30, 30]]}))
    before = _digests(folder, boxes)
    out = _out_with_previous(tmp_path)
    overwrite = "--overwrite"  # the previous results are replaced, unless the run is refused
    rc, _, err = _detect(
        ckpt, folder, out, capsys, "--boxes", str(boxes), "--no-overlay", overwrite
    )
    assert rc == 2
    line = _one_error_line(err)
    assert f"--boxes {boxes}: none of its 2 key(s) matches" in line and "--allow-empty" in line
    assert (out / "landmarks.json").read_text() == PREVIOUS
    rc, text, err = _detect(
        ckpt, folder, out, capsys, "--boxes", str(boxes), "--no-overlay", "--allow-empty", overwrite
    )
    assert rc == 0
    assert err.startswith("otmark detect: warning: --boxes") and "none of its 2 key(s)" in err
    assert "2 image(s)/frame(s), 0 face(s) (2 without a face)" in text
    _, results = read_results_json(out / "landmarks.json")
    assert [len(r.faces) for r in results] == [0, 0]
    assert _digests(folder, boxes) == before


def _box_file_refused(tmp_path, ckpt, capsys, rows: str):
    """``detect`` of one image ``face.png`` with a box file holding ``rows`` (after the CSV
    header): exit 2; the image, the box file and the one error line."""
    img = _png(tmp_path / "face.png", 0)
    boxes = tmp_path / "boxes.csv"
    boxes.write_text("name,x0,y0,x1,y1\n" + rows)
    rc, _, err = _detect(ckpt, img, tmp_path / "out", capsys, "--boxes", str(boxes))
    assert rc == 2
    return img, boxes, _one_error_line(err)


def test_box_file_without_boxes_exit_2_unless_allow_empty(tmp_path, ckpt, capsys):
    img, boxes, line = _box_file_refused(tmp_path, ckpt, capsys, "")
    assert f"--boxes {boxes}: the file holds no box; --allow-empty" in line
    assert not (tmp_path / "out").exists()
    args = ("--boxes", str(boxes), "--allow-empty", "--no-overlay")
    rc, _, err = _detect(ckpt, img, tmp_path / "out", capsys, *args)
    assert rc == 0 and "warning: --boxes" in err


def test_box_keys_partly_matching_warn(tmp_path, ckpt, capsys):
    folder = tmp_path / "imgs"
    _png(folder / "a.png", 0), _png(folder / "b.png", 1)
    boxes = tmp_path / "boxes.csv"
    boxes.write_text("name,x0,y0,x1,y1\na.png,4,6,40,44\nzzz.png,1,1,9,9\n")
    rc, _, err = _detect(ckpt, folder, tmp_path / "out", capsys, "--boxes", str(boxes))
    assert rc == 0
    assert "1 of 2 key(s) match no image or frame" in err and "'zzz.png'" in err
    _, results = read_results_json(tmp_path / "out" / "landmarks.json")
    assert [len(r.faces) for r in results] == [1, 0]


def test_box_keys_beyond_the_video(tmp_path, ckpt, capsys):
    video = _video(tmp_path / "v.avi", frames=4)
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps({"4": [[1, 1, 30, 30]], "007": [[1, 1, 30, 30]]}))
    rc, _, err = _detect(ckpt, video, tmp_path / "out", capsys, "--boxes", str(boxes))
    assert rc == 2
    assert "none of its 2 key(s) matches an image or frame" in _one_error_line(err)
    assert not (tmp_path / "out").exists()


# --- truncated video --------------------------------------------------------------------------


def test_truncated_video_reports_frames_decoded_vs_announced(tmp_path, ckpt, capsys):
    video = _video(tmp_path / "v.avi", frames=10)
    video.write_bytes(video.read_bytes()[: video.stat().st_size * 6 // 10])
    before = _digests(video)
    out = tmp_path / "out"
    rc, text, err = _detect(ckpt, video, out, capsys, "--whole-image")
    assert rc == 0
    doc = json.loads((out / "landmarks.json").read_text())
    decoded = doc["video"]["frames_decoded"]
    assert doc["video"] == {"frames_decoded": decoded, "frames_announced": 10, "truncated": True}
    assert 0 < decoded < 10 and len(doc["items"]) == decoded
    assert f"{video}: truncated video: frames decoded {decoded}, announced 10" in err
    assert f"{decoded} image(s)/frame(s)" in text
    assert _digests(video) == before


def test_complete_video_is_not_truncated(tmp_path, ckpt, capsys):
    video = _video(tmp_path / "v.avi", frames=5)
    rc, _, err = _detect(ckpt, video, tmp_path / "out", capsys, "--whole-image", "--no-overlay")
    assert rc == 0 and "warning" not in err
    doc = json.loads((tmp_path / "out" / "landmarks.json").read_text())
    assert doc["video"] == {"frames_decoded": 5, "frames_announced": 5, "truncated": False}
    assert doc["skipped"] == []


# --- a given box outside the image ------------------------------------------------------------


def test_box_entirely_outside_the_image_refused(tmp_path, ckpt, capsys):
    img = _png(tmp_path / "face.png", 0)  # 64 x 48
    out = _out_with_previous(tmp_path)
    args = ("--box", "4,6,40,44", "--box", "70,10,90,30", "--overwrite")
    rc, _, err = _detect(ckpt, img, out, capsys, *args)
    assert rc == 2
    line = _one_error_line(err)
    assert line.endswith("--box 70,10,90,30 lies entirely outside the 64x48 image face.png")
    assert (out / "landmarks.json").read_text() == PREVIOUS
    assert not (out / "overlays").exists()
    # a box reaching over the edge is fine: only boxes with no pixel of the image are refused
    rc, _, err = _detect(ckpt, img, out, capsys, "--box", "40,-20,90,30", "--overwrite")
    assert rc == 0, err


def test_box_file_box_outside_the_image_refused(tmp_path, ckpt, capsys):
    _, boxes, line = _box_file_refused(tmp_path, ckpt, capsys, "face.png,-90,-90,-1,-1\n")
    assert f"--boxes {boxes}: box -90,-90,-1,-1 lies entirely outside" in line


# --- corrupt images in a folder ---------------------------------------------------------------


def test_corrupt_image_in_folder_stops_with_one_line_by_default(tmp_path, ckpt, capsys):
    folder = _folder(tmp_path)
    before = _digests(folder)
    out = _out_with_previous(tmp_path)
    rc, _, err = _detect(ckpt, folder, out, capsys, "--whole-image", "--overwrite")
    assert rc == 2
    line = _one_error_line(err)
    assert line.endswith(
        f"{folder / 'b.jpg'}: JPEG file is truncated (no end marker; "
        f"{(folder / 'b.jpg').stat().st_size} bytes)"
    )
    assert (out / "landmarks.json").read_text() == PREVIOUS
    assert _digests(folder) == before


def test_on_error_skip_records_skipped_files_and_writes_the_rest(tmp_path, ckpt, capsys):
    folder = _folder(tmp_path)
    before = _digests(folder)
    out = tmp_path / "out"
    rc, text, err = _detect(ckpt, folder, out, capsys, "--whole-image", "--on-error", "skip")
    assert rc == 0
    doc = json.loads((out / "landmarks.json").read_text())
    assert [i["source"] for i in doc["items"]] == ["a.png", "d.png"]
    assert all(len(i["faces"]) == 1 for i in doc["items"])
    assert [s["source"] for s in doc["skipped"]] == ["b.jpg", "c.png"]
    assert doc["skipped"][0]["reason"].startswith("JPEG file is truncated")
    assert doc["skipped"][1]["reason"] == "not a readable image"
    assert "otmark detect: warning: skipped b.jpg: JPEG file is truncated" in err
    assert "otmark detect: warning: skipped c.png: not a readable image" in err
    assert "2 image(s)/frame(s), 2 face(s) (0 without a face, 2 skipped)" in text
    csv_rows = (out / "landmarks.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in csv_rows[1:]] == ["a.png", "d.png"]
    assert sorted(p.name for p in (out / "overlays").iterdir()) == ["a.png", "d.png"]
    assert _digests(folder) == before


def test_on_error_skip_with_nothing_readable_is_an_error(tmp_path, ckpt, capsys):
    folder = tmp_path / "imgs"
    folder.mkdir()
    (folder / "x.png").write_bytes(b"nope")
    (folder / "y.jpg").write_bytes(b"")
    rc, _, err = _detect(
        ckpt, folder, tmp_path / "out", capsys, "--whole-image", "--on-error", "skip"
    )
    assert rc == 2
    assert "none of the 2 image(s) could be read (e.g. x.png: not a readable image)" in err
    assert not (tmp_path / "out" / "landmarks.json").exists()


def test_corrupt_image_no_traceback_in_a_real_process(tmp_path, ckpt):
    folder = _folder(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "otmark", "detect", str(folder), "--checkpoint", str(ckpt)]
        + ["--whole-image", "--out", str(tmp_path / "out"), "--no-overlay"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert [ln for ln in proc.stderr.splitlines() if ln.startswith("otmark detect: error:")] == [
        f"otmark detect: error: {folder / 'b.jpg'}: JPEG file is truncated (no end marker; "
        f"{(folder / 'b.jpg').stat().st_size} bytes)"
    ]


# --- images too small to be a face crop (--whole-image) -------------------------------------


@pytest.mark.parametrize("shape", [(1, 1), (MIN_IMAGE_SIDE - 1, 64)])
def test_whole_image_smaller_than_the_minimum_refused(tmp_path, ckpt, capsys, shape):
    image = _png(tmp_path / "tiny.png", 0, shape)
    out = _out_with_previous(tmp_path)
    rc, _, err = _detect(ckpt, image, out, capsys, "--whole-image", "--overwrite")
    assert rc == 2
    h, w = shape
    assert _one_error_line(err) == (
        f"otmark detect: error: {image}: image is {w}x{h} pixels, "
        f"smaller than {MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE}"
    )
    assert (out / "landmarks.json").read_text() == PREVIOUS
    # with a face finder the same image is no crop: it gives no face, and exit 0
    rc, text, err = _detect(ckpt, image, tmp_path / "found", capsys, "--finder", "haar")
    assert rc == 0, err
    assert "0 face(s)" in text


def test_whole_image_skip_records_the_small_image(tmp_path, ckpt, capsys):
    folder = tmp_path / "imgs"
    _png(folder / "a.png", 0)
    _png(folder / "b.png", 1, (1, 1))
    _png(folder / "c.png", 2, (MIN_IMAGE_SIDE, MIN_IMAGE_SIDE))  # the minimum itself is used
    out = tmp_path / "out"
    rc, text, err = _detect(ckpt, folder, out, capsys, "--whole-image", "--on-error", "skip")
    assert rc == 0, err
    doc = json.loads((out / "landmarks.json").read_text())
    assert [i["source"] for i in doc["items"]] == ["a.png", "c.png"]
    small = f"image is 1x1 pixels, smaller than {MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE}"
    assert doc["skipped"] == [{"source": "b.png", "reason": small}]
    assert f"otmark detect: warning: skipped b.png: {small}" in err
    assert "2 image(s)/frame(s), 2 face(s) (0 without a face, 1 skipped)" in text


def test_whole_image_video_with_tiny_frames_refused(tmp_path, ckpt, capsys):
    path = tmp_path / "tiny.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (16, 4))
    for _ in range(3):
        writer.write(np.full((4, 16, 3), 100, np.uint8))
    writer.release()
    out = _out_with_previous(tmp_path)
    rc, _, err = _detect(ckpt, path, out, capsys, "--whole-image", "--no-overlay", "--overwrite")
    assert rc == 2
    line = _one_error_line(err)
    assert line.endswith(
        f"{path}: frame 0: image is 16x4 pixels, smaller than {MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE}"
    )
    assert (out / "landmarks.json").read_text() == PREVIOUS
