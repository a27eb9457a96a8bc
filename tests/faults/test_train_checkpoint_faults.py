"""Corrupt, truncated, empty and foreign checkpoints; ``--debug``; a missing optional
dependency: each a one-line error naming the file (exit 2), the file left as it was."""

import sys

import pytest
import torch
from train_helpers import (
    one_error_line,
    run_cli,
    snapshot,
    tiny_raw,
    write_yaml,
)

from otmark.engine import config_from_dict, train


@pytest.fixture(scope="module")
def finished(tiny_data, tmp_path_factory):
    """A finished 1-epoch run: ``(config file, run folder, bytes of its last.pt)``."""
    base = tmp_path_factory.mktemp("finished")
    raw = tiny_raw(tiny_data, base / "run", optim={"epochs": 1})
    train(config_from_dict(raw), log=lambda _: None)
    return raw, (base / "run" / "last.pt").read_bytes()


def _damage(kind: str, good: bytes) -> bytes:
    if kind == "empty":
        return b""
    if kind == "truncated":
        return good[: len(good) // 2]
    if kind == "garbage":
        return bytes(range(256)) * 8
    import io

    buf = io.BytesIO()
    torch.save({"weights": torch.zeros(3)}, buf)  # a torch file, not an otmark checkpoint
    return buf.getvalue()


CASES = {
    "empty": "checkpoint file is empty (0 bytes)",
    "truncated": "not a readable otmark checkpoint: truncated or corrupt",
    "garbage": "not a readable otmark checkpoint:",
    "foreign": "checkpoint lacks 'model_name', 'model_kwargs', 'model'",
}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_resume_from_a_damaged_last_pt(finished, tmp_path, capsys, kind):
    raw, good = finished
    run = tmp_path / "run"
    run.mkdir()
    (run / "last.pt").write_bytes(_damage(kind, good))
    raw = {**raw, "train": {**raw["train"], "output_dir": str(run)}}
    config = write_yaml(tmp_path / "c.yaml", raw)
    before = snapshot(run)
    code, out, err = run_cli(capsys, "train", "--config", str(config), "--resume")
    assert code == 2
    line = one_error_line(err)
    assert str(run / "last.pt") in line and CASES[kind] in line
    reason = line.split("last.pt: ", 1)[1]
    assert reason.strip(" ()[]") and "()" not in line  # never an empty reason
    assert snapshot(run) == before


@pytest.mark.parametrize("kind", ["empty", "truncated"])
def test_evaluate_a_damaged_checkpoint(finished, tiny_data, tmp_path, capsys, kind):
    _, good = finished
    bad = tmp_path / "model.pt"
    bad.write_bytes(_damage(kind, good))
    argv = ["evaluate", "--protocol", "300w-challenge", "--data-root", str(tiny_data)]
    code, out, err = run_cli(capsys, *argv, "--checkpoint", str(bad), "--out", str(tmp_path / "o"))
    assert code == 2
    line = one_error_line(err, "evaluate")
    assert str(bad) in line and ("empty (0 bytes)" in line or "truncated or corrupt" in line)
    assert bad.read_bytes() == _damage(kind, good)


def test_debug_shows_the_traceback(finished, tmp_path, capsys):
    raw, _ = finished
    run = tmp_path / "run"
    run.mkdir()
    (run / "last.pt").write_bytes(b"")
    raw = {**raw, "train": {**raw["train"], "output_dir": str(run)}}
    config = write_yaml(tmp_path / "c.yaml", raw)
    with pytest.raises(ValueError, match="empty"):
        run_cli(capsys, "--debug", "train", "--config", str(config), "--resume")


def test_missing_onnx_names_the_extra(finished, tmp_path, capsys, monkeypatch):
    _, good = finished
    ckpt = tmp_path / "model.pt"
    ckpt.write_bytes(good)
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx -> ModuleNotFoundError
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    code, out, err = run_cli(
        capsys, "export", "--checkpoint", str(ckpt), "--onnx", str(tmp_path / "m.onnx")
    )
    assert code == 2
    line = one_error_line(err, "export")
    assert "pip install 'otmark[onnx]'" in line
    assert not (tmp_path / "m.onnx").exists()
