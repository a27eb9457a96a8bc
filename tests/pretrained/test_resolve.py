"""The name 'pretrained': where it resolves, and its errors (missing, corrupt)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from otmark.inference import Detector
from otmark.models import load_model_from_checkpoint
from otmark.pretrained import (
    CorruptWeights,
    PretrainedNotInstalled,
    package_weights_dir,
    resolve_checkpoint,
    weights_dir,
)


def test_resolves_to_the_weights_file(weights, tmp_path):
    assert resolve_checkpoint("pretrained") == weights / "otmark_pretrained.pt"
    # a function argument wins over the environment; a folder with a manifest names its model
    assert resolve_checkpoint("pretrained", weights_dir=weights) == weights / "otmark_pretrained.pt"
    assert resolve_checkpoint(weights) == weights / "otmark_pretrained.pt"
    assert resolve_checkpoint(tmp_path / "other.pt") == tmp_path / "other.pt"


def test_default_folder_is_inside_the_package(monkeypatch):
    import otmark

    monkeypatch.delenv("OTMARK_WEIGHTS_DIR", raising=False)
    assert weights_dir() == package_weights_dir()
    assert package_weights_dir().parent.resolve() == (
        __import__("pathlib").Path(otmark.__file__).parent.resolve()
    )


def test_every_loader_accepts_the_name(weights, tiny_run):
    model, meta = load_model_from_checkpoint("pretrained")
    assert meta["scheme"] == "300w" and meta["codec"]["decoder"] == "get_bc"
    det = Detector.from_checkpoint("pretrained", device="cpu")
    ref = Detector.from_checkpoint(tiny_run / "train" / "best.pt", device="cpu")
    img = np.random.default_rng(0).integers(0, 256, (80, 90, 3), dtype=np.uint8)
    box = np.array([[10.0, 12.0, 70.0, 72.0]])
    a, b = det.predict(img, box), ref.predict(img, box)
    assert a.shape == (1, det.num_landmarks, 2)
    # float16 weights move the barycentres by a small fraction of the 60-px box
    assert np.abs(a - b).max() < 0.5


def test_not_installed_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setenv("OTMARK_WEIGHTS_DIR", str(tmp_path / "empty"))
    with pytest.raises(PretrainedNotInstalled) as err:
        resolve_checkpoint("pretrained")
    text = str(err.value)
    assert "not in this installation" in text and "otmark pretrain" in text
    assert str(tmp_path / "empty") in text and "\n" not in text
    with pytest.raises(FileNotFoundError, match="not in this installation"):
        Detector.from_checkpoint("pretrained")


def test_missing_weights_file_named(weights):
    (weights / "otmark_pretrained.pt").unlink()
    with pytest.raises(PretrainedNotInstalled, match=r"otmark_pretrained\.pt.*missing"):
        resolve_checkpoint("pretrained")


def test_corrupt_weights_caught_before_torch_reads_them(weights, monkeypatch):
    path = weights / "otmark_pretrained.pt"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))

    def no_load(*args, **kwargs):
        raise AssertionError("torch.load was called on corrupt weights")

    monkeypatch.setattr(torch, "load", no_load)
    with pytest.raises(
        CorruptWeights, match=r"otmark_pretrained\.pt: packaged weights are corrupt"
    ):
        load_model_from_checkpoint("pretrained")
    with pytest.raises(ValueError, match="corrupt"):
        Detector.from_checkpoint("pretrained")


@pytest.mark.parametrize(
    "text, problem",
    [("{not json", "not a readable manifest"), (json.dumps({"format": "x"}), "not an otmark")],
)
def test_bad_manifest_named(weights, text, problem):
    (weights / "manifest.json").write_text(text)
    with pytest.raises(CorruptWeights, match=rf"manifest\.json: {problem}"):
        resolve_checkpoint("pretrained")


def test_manifest_cannot_point_outside_its_folder(weights):
    m = json.loads((weights / "manifest.json").read_text())
    m["weights"] = "../elsewhere.pt"
    (weights / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(CorruptWeights, match="same folder"):
        resolve_checkpoint("pretrained")
