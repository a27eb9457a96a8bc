"""``otmark detect`` end to end: inputs, box options, outputs, and error exits naming the file."""

import json

import cv2
import numpy as np
import pytest
import torch

from otmark.cli.main import main
from otmark.inference import read_results_csv, read_results_json
from otmark.schemes import get_scheme

SCHEME = "aflw"
CODEC = {"input_size": 64, "heatmap_size": 16, "sigma": 1.5, "decoder": "get_max"}


def write_png(path, seed, shape=(48, 64)):
    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.random.default_rng(seed).integers(0, 256, (*shape, 3), dtype=np.uint8)
    assert cv2.imwrite(str(path), img)
    return path


def test_image_with_box(tmp_path, ckpt, capsys):
    img = write_png(tmp_path / "face.png", 0)
    out = tmp_path / "out"
    args = ["detect", str(img), "--checkpoint", str(ckpt), "--box", "4,6,40,44"]
    code = main([*args, "--out", str(out), "--passes", "1"])  # the box crop only
    assert code == 0
    header, results = read_results_json(out / "landmarks.json")
    assert header["num_landmarks"] == get_scheme(SCHEME).num_points
    assert [(r.source, r.frame, len(r.faces)) for r in results] == [("face.png", None, 1)]
    np.testing.assert_array_equal(results[0].faces[0].box, [4, 6, 40, 44])
    lm = results[0].faces[0].landmarks
    # GET_MAX points sit on the quarter-pixel lattice of the heatmap, inside the crop square
    assert np.all(np.abs(lm - [22, 25]) <= 1.25 * 38 / 2)
    assert (out / "overlays" / "face.png").is_file()
    assert "1 image(s)/frame(s), 1 face(s)" in capsys.readouterr().out


def test_folder_with_box_file_and_flip_test(tmp_path, ckpt):
    write_png(tmp_path / "in" / "a.png", 1)
    write_png(tmp_path / "in" / "b.jpg", 2)
    boxes = tmp_path / "boxes.csv"
    boxes.write_text("name,x0,y0,x1,y1\na.png,4,6,40,44\na.png,30,2,60,40\n")
    out = tmp_path / "out"
    args = ["detect", str(tmp_path / "in"), "--checkpoint", str(ckpt), "--boxes", str(boxes)]
    assert main([*args, "--out", str(out), "--flip-test", "--no-overlay"]) == 0
    results = read_results_csv(out / "landmarks.csv")
    assert [(r.source, len(r.faces)) for r in results] == [("a.png", 2), ("b.jpg", 0)]
    assert not (out / "overlays").exists()


def test_video_with_whole_image_boxes_and_avi_overlay(tmp_path, ckpt):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 4, (40, 32))
    for v in (30, 90, 150, 210):
        writer.write(np.full((32, 40, 3), v, dtype=np.uint8))
    writer.release()
    out = tmp_path / "out"
    args = ["detect", str(path), "--checkpoint", str(ckpt), "--whole-image", "--out", str(out)]
    assert main([*args, "--video-format", "avi"]) == 0
    _, results = read_results_json(out / "landmarks.json")
    assert [r.frame for r in results] == [0, 1, 2, 3]
    whole = [-0.5, -0.5, 39.5, 31.5]
    assert all(np.array_equal(r.faces[0].box, whole) for r in results)
    assert (out / "clip_landmarks.avi").stat().st_size > 0


def test_onnx_model(tmp_path, ckpt):
    from otmark.export import export_checkpoint

    onnx_path = tmp_path / "m.onnx"
    export_checkpoint(ckpt, onnx_path, verify_batch=0)
    img = write_png(tmp_path / "x.png", 3)
    a, b = tmp_path / "a", tmp_path / "b"
    common = [str(img), "--box", "4,6,40,44", "--no-overlay", "--out"]
    assert main(["detect", *common, str(a), "--onnx", str(onnx_path)]) == 0
    assert main(["detect", *common, str(b), "--checkpoint", str(ckpt)]) == 0
    la = json.loads((a / "landmarks.json").read_text())["items"][0]["faces"][0]["landmarks"]
    lb = json.loads((b / "landmarks.json").read_text())["items"][0]["faces"][0]["landmarks"]
    np.testing.assert_allclose(la, lb, atol=1e-3)


@pytest.mark.parametrize(
    "make_input, extra, message",
    [
        (lambda d: d / "missing.png", [], r"missing\.png: input does not exist"),
        (lambda d: _garbage(d / "broken.png"), [], r"broken\.png: not a readable image"),
        (lambda d: _garbage(d / "broken.mp4"), [], r"broken\.mp4: not a readable video"),
        (lambda d: write_png(d / "ok.png", 0), ["--box", "1,2,3"], r"--box '1,2,3'"),
        (lambda d: write_png(d / "ok.png", 0), ["--boxes", "BADCSV"], r"bad\.csv:2:"),
    ],
)
def test_errors_exit_2_and_name_the_culprit(tmp_path, ckpt, capsys, make_input, extra, message):
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("name,x0,y0,x1,y1\na.png,1,2,zz,4\n")
    extra = [str(bad_csv) if e == "BADCSV" else e for e in extra]
    inp = make_input(tmp_path)
    extra = extra if extra else ["--whole-image"]
    out = ["--out", str(tmp_path / "o")]
    code = main(["detect", str(inp), "--checkpoint", str(ckpt), *out, *extra])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("otmark detect: error:")
    assert __import__("re").search(message, err), err
    assert not (tmp_path / "o" / "landmarks.json").exists()


def _garbage(path):
    path.write_bytes(b"definitely not a media file" * 20)
    return path


def test_missing_checkpoint_exits_2(tmp_path, capsys):
    img = write_png(tmp_path / "a.png", 0)
    assert (
        main(["detect", str(img), "--checkpoint", str(tmp_path / "nope.pt"), "--box", "1,1,9,9"])
        == 2
    )
    assert "nope.pt" in capsys.readouterr().err


def test_no_boxes_without_haar_is_a_clear_error(tmp_path, ckpt, capsys, monkeypatch):
    import cv2 as cv

    monkeypatch.delattr(cv, "CascadeClassifier", raising=False)
    monkeypatch.delattr(cv, "xobjdetect", raising=False)
    img = write_png(tmp_path / "a.png", 0)
    assert main(["detect", str(img), "--checkpoint", str(ckpt), "--finder", "haar"]) == 2
    assert "--box" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_without_gpu_exits_2(tmp_path, ckpt, capsys):
    img = write_png(tmp_path / "a.png", 0)
    args = ["detect", str(img), "--checkpoint", str(ckpt), "--box", "1,1,9,9", "--device", "cuda"]
    assert main(args) == 2
    assert "no CUDA device" in capsys.readouterr().err


def test_recursive_folder(tmp_path, ckpt):
    write_png(tmp_path / "in" / "x" / "a.png", 1)
    write_png(tmp_path / "in" / "y" / "b.png", 2)
    out = tmp_path / "out"
    args = ["detect", str(tmp_path / "in"), "--checkpoint", str(ckpt), "--whole-image"]
    assert main([*args, "--recursive", "--out", str(out)]) == 0
    _, results = read_results_json(out / "landmarks.json")
    assert [r.source for r in results] == ["x/a.png", "y/b.png"]
    assert (out / "overlays" / "x" / "a.png").is_file()
