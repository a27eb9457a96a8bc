"""Errors of ``otmark export`` and of loading an ONNX model name the thing, early.

Reproductions: ``otmark export --onnx DIR`` named the current folder, and only after the whole
export; an ONNX file whose metadata disagreed with its input shape failed at the first image
with ONNX Runtime's raw ``InvalidArgument``. Now the export target is checked before the export
runs, and the metadata against the graph's input and output shapes when the model is loaded,
naming the file.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from otmark.cli.main import main  # noqa: E402
from otmark.inference import Detector  # noqa: E402

CODEC = {"input_size": 32, "heatmap_size": 8, "sigma": 1.0, "decoder": "get_max", "softmax": False}


def _export_error(capsys, *argv: str) -> str:
    assert main(["export", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("otmark export: error: "), err
    return err[0][len("otmark export: error: ") :]


def test_onnx_target_that_is_a_folder_is_refused_before_the_export(tmp_path, capsys):
    folder = tmp_path / "models"
    folder.mkdir()
    # the checkpoint does not even exist: the target is checked first, not after an export
    line = _export_error(capsys, "--checkpoint", str(tmp_path / "none.pt"), "--onnx", str(folder))
    assert line == f"--onnx {folder}: is a folder; give the file to write, e.g. {folder}/model.onnx"
    assert list(folder.iterdir()) == []


def test_onnx_target_under_a_file_or_a_read_only_folder(tmp_path, capsys, monkeypatch):
    (tmp_path / "notes.txt").write_text("x")
    target = tmp_path / "notes.txt" / "sub" / "model.onnx"
    line = _export_error(capsys, "--checkpoint", "none.pt", "--onnx", str(target))
    assert line == f"--onnx {target}: {tmp_path / 'notes.txt'} is a file, not a folder"
    monkeypatch.setattr("otmark.cli.export.os.access", lambda path, mode: False)
    target = tmp_path / "new" / "model.onnx"  # the nearest existing folder is checked
    line = _export_error(capsys, "--checkpoint", "none.pt", "--onnx", str(target))
    assert line == f"--onnx {target}: the folder {tmp_path} is not writable"


# --- metadata against the graph ---------------------------------------------------------------


def _model_file(path: Path, codec: dict, scheme: str = "aflw") -> Path:
    """A tiny heatmap model (32 px crops -> 19 heatmaps of 8 px) with ``codec`` as metadata."""
    import onnx

    from otmark.export import export_onnx
    from otmark.export.metadata import write_onnx_meta

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.AvgPool2d(4), torch.nn.Conv2d(3, 19, 1))
    good = export_onnx(
        model, path.with_name("good.onnx"), 32, meta={"scheme": "aflw", "codec": CODEC}
    )
    proto = onnx.load(str(good))
    write_onnx_meta(proto, {"scheme": scheme, "codec": codec})
    onnx.save(proto, str(path))
    return path


@pytest.mark.parametrize(
    "codec, scheme, words",
    [
        (
            {**CODEC, "input_size": 64, "heatmap_size": 16},
            "aflw",
            "the metadata's codec input_size is 64 but the graph's input 'images' is 32x32 "
            "(shape ['batch', 3, 32, 32])",
        ),
        (
            {**CODEC, "heatmap_size": 16},
            "aflw",
            "the metadata's codec heatmap_size is 16 but the graph's output 'heatmaps' is 8x8",
        ),
        (
            CODEC,
            "cofw",
            "the metadata's scheme has 29 points but the graph's output 'heatmaps' has 19 heatmaps",
        ),
    ],
    ids=["input_size", "heatmap_size", "points"],
)
def test_metadata_that_disagrees_with_the_graph_is_refused_on_load(tmp_path, codec, scheme, words):
    path = _model_file(tmp_path / "bad.onnx", codec, scheme)
    with pytest.raises(ValueError) as err:
        Detector.from_onnx(path, device="cpu")
    text = str(err.value)
    assert text.startswith(f"{path}: the otmark metadata does not match the ONNX graph: ")
    assert words in text and "InvalidArgument" not in text
    good = Detector.from_onnx(tmp_path / "good.onnx", device="cpu")  # agreeing metadata loads
    box = np.array([[4.0, 4.0, 28.0, 28.0]])
    assert good.predict(np.full((32, 32, 3), 90, np.uint8), box).shape == (1, 19, 2)


def test_detect_names_the_onnx_file_with_bad_metadata(tmp_path, capsys):
    path = _model_file(tmp_path / "bad.onnx", {**CODEC, "input_size": 64, "heatmap_size": 16})
    image = tmp_path / "face.png"
    cv2.imwrite(str(image), np.full((32, 32, 3), 90, np.uint8))
    args = ["detect", str(image), "--onnx", str(path), "--whole-image", "--device", "cpu"]
    assert main([*args, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"otmark detect: error: {path}: the otmark metadata does not match")
    assert not (tmp_path / "out" / "landmarks.json").exists()
