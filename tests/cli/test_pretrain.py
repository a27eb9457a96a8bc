"""``otmark pretrain`` and the packaged model through every command that takes a checkpoint."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from otmark.cli.main import main
from otmark.inference import read_results_json
from otmark.schemes import get_scheme


@pytest.fixture(autouse=True)
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("pretrain") / "run"
    assert main(["pretrain", "--out", str(out), "--tiny"]) == 0
    return out


@pytest.fixture
def installed(run_dir, tmp_path, monkeypatch):
    folder = tmp_path / "weights"
    shutil.copytree(run_dir / "weights", folder)
    monkeypatch.setenv("OTMARK_WEIGHTS_DIR", str(folder))
    return folder


def face_image(run_dir):
    path = sorted((run_dir / "data" / "300W" / "helen" / "testset").glob("*.jpg"))[0]
    return path


def test_run_writes_data_training_and_weights(run_dir):
    stamp = json.loads((run_dir / "data" / "pretrain_data.json").read_text())
    assert stamp["train_faces"] == 12 and stamp["image_size"] == 64
    assert (run_dir / "train" / "best.pt").is_file()
    manifest = json.loads((run_dir / "weights" / "manifest.json").read_text())
    assert manifest["recipe"]["command"] == "otmark pretrain"
    assert manifest["data"] == stamp


def test_resume_keeps_data_and_install_writes_the_weights_folder(
    run_dir, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("OTMARK_WEIGHTS_DIR", str(tmp_path / "installed"))
    before = {p: p.stat().st_mtime_ns for p in (run_dir / "data").rglob("*.jpg")}
    assert main(["pretrain", "--out", str(run_dir), "--tiny", "--resume", "--install"]) == 0
    out = capsys.readouterr().out
    assert "already written" in out and "(resumed)" in out
    assert before == {p: p.stat().st_mtime_ns for p in (run_dir / "data").rglob("*.jpg")}
    assert (tmp_path / "installed" / "manifest.json").is_file()


def test_detect_without_checkpoint_uses_the_packaged_model(run_dir, installed, tmp_path):
    img = face_image(run_dir)
    outs = {}
    for name, extra in (
        ("default", []),
        ("named", ["--checkpoint", "pretrained"]),
        ("file", ["--checkpoint", str(run_dir / "train" / "best.pt")]),
    ):
        out = tmp_path / name
        code = main(
            ["detect", str(img), "--whole-image", "--no-overlay", "--out", str(out), *extra]
        )
        assert code == 0
        header, results = read_results_json(out / "landmarks.json")
        assert header["num_landmarks"] == get_scheme("300w").num_points
        outs[name] = results[0].faces[0].landmarks
    np.testing.assert_array_equal(outs["default"], outs["named"])
    assert np.abs(outs["default"] - outs["file"]).max() < 0.5  # float16 vs float32 weights


def test_evaluate_and_export_accept_the_name(run_dir, installed, tmp_path):
    out = tmp_path / "eval"
    code = main(
        [
            "evaluate",
            "--protocol",
            "300w-full",
            "--data-root",
            str(run_dir / "data" / "300W"),
            "--checkpoint",
            "pretrained",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert code == 0
    res = json.loads((out / "results.json").read_text())
    assert res["source"] == {"checkpoint": "pretrained"} and res["num_images"] == 3
    # the same 3 validation faces, crops from the labels, as the training run's validation:
    # the packaged (float16) model scores what the float32 checkpoint scored there
    best = torch.load(run_dir / "train" / "best.pt", weights_only=True)["best_nme"]
    assert abs(res["summary"]["NME"] - best) < 0.5
    pytest.importorskip("onnxruntime")
    onnx = tmp_path / "m.onnx"
    assert main(["export", "--checkpoint", "pretrained", "--onnx", str(onnx)]) == 0
    assert onnx.is_file()


@pytest.mark.parametrize("command", ["detect", "evaluate", "export"])
def test_corrupt_weights_one_line_exit_2(run_dir, installed, tmp_path, capsys, command):
    path = installed / "otmark_pretrained.pt"
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    args = {
        "detect": ["detect", str(face_image(run_dir)), "--whole-image", "--out", str(tmp_path)],
        "evaluate": [
            "evaluate",
            "--protocol",
            "300w-full",
            "--data-root",
            str(run_dir / "data" / "300W"),
            "--checkpoint",
            "pretrained",
            "--out",
            str(tmp_path),
        ],
        "export": ["export", "--checkpoint", "pretrained", "--onnx", str(tmp_path / "m.onnx")],
    }[command]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert f"otmark {command}: error: {path}: packaged weights are corrupt" in err


def test_missing_weights_one_line_exit_2(run_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OTMARK_WEIGHTS_DIR", str(tmp_path / "none"))
    assert main(["detect", str(face_image(run_dir)), "--whole-image", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "packaged model ('pretrained') is not in this installation" in err
    assert "otmark pretrain" in err


def test_the_tiny_run_trains_two_steps(run_dir):
    rows = [json.loads(line) for line in (run_dir / "train" / "log.jsonl").read_text().splitlines()]
    assert rows[-1]["steps"] == 2


def test_a_longer_schedule_needs_resume_override(tmp_path, capsys):
    out = str(tmp_path / "run")
    assert main(["pretrain", "--out", out, "--tiny"]) == 0
    longer = ["pretrain", "--out", out, "--tiny", "--resume", "--set", "optim.steps=4"]
    assert main(longer) == 2
    assert "optim.steps 2 -> 4" in capsys.readouterr().err
    assert main([*longer, "--resume-override"]) == 0
    log = [json.loads(line) for line in (tmp_path / "run" / "train" / "log.jsonl").open()]
    assert log[-1]["steps"] == 4
    assert any(r.get("event") == "resume_override" for r in log)


def test_bad_arguments(tmp_path, capsys):
    assert main(["pretrain", "--out", str(tmp_path), "--resume-override"]) == 2
    assert "--resume-override needs --resume" in capsys.readouterr().err
    assert main(["pretrain", "--out", str(tmp_path), "--faces", "2"]) == 2
    assert main(["pretrain", "--out", str(tmp_path), "--image-size", "32"]) == 2
    assert "at least 64" in capsys.readouterr().err
    assert not (tmp_path / "data").exists()


def test_print_config_is_the_packaged_recipe(tmp_path, capsys):
    import yaml

    assert main(["pretrain", "--out", str(tmp_path / "r"), "--print-config"]) == 0
    cfg = yaml.safe_load(capsys.readouterr().out)
    assert cfg["model"]["name"] == "hrnet_w18" and cfg["loss"]["name"] == "wasserstein"
    # sigma 3 at a 64-px heatmap is 1.5 at the 32-px heatmap of a 128-px crop
    assert (cfg["codec"]["input_size"], cfg["codec"]["heatmap_size"]) == (128, 32)
    assert cfg["codec"]["sigma"] * 64 / cfg["codec"]["heatmap_size"] == 3.0
    assert cfg["codec"]["decoder"] == "get_bc"
    assert cfg["data"]["root"] == str(tmp_path / "r" / "data" / "300W")
    assert not (tmp_path / "r").exists()
