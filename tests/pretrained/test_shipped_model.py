"""The model shipped in the package (``otmark/weights``): intact, and it finds landmarks on
generated faces it never saw (``otmark synth``'s generator key differs from the pretraining
data's)."""

from __future__ import annotations

import json

import pytest

from otmark.pretrained import package_weights_dir

SHIPPED = package_weights_dir() / "manifest.json"
pytestmark = pytest.mark.skipif(not SHIPPED.is_file(), reason="no packaged model in this build")


@pytest.fixture(autouse=True)
def _shipped(monkeypatch):
    monkeypatch.delenv("OTMARK_WEIGHTS_DIR", raising=False)


def test_the_manifest_describes_the_shipped_weights():
    from otmark.pretrained import load_packaged, sha256_file

    manifest = json.loads(SHIPPED.read_text(encoding="utf-8"))
    weights = SHIPPED.parent / manifest["weights"]
    assert sha256_file(weights) == manifest["sha256"]
    assert weights.stat().st_size <= 25 * 2**20
    packed = load_packaged()
    assert packed["scheme"] == manifest["scheme"] == "300w"
    assert manifest["recipe"]["command"] == "otmark pretrain"


def test_the_shipped_model_finds_landmarks_on_unseen_generated_faces(tmp_path):
    """Generated 300W test faces, crops from the labels: the packaged model is far better than
    the mean shape of the generated training faces (about 20 % NME on such faces)."""
    from otmark.cli.main import main

    data = tmp_path / "300W"
    assert (
        main(
            ["synth", "--dataset", "300w", "--out", str(data), "--num", "40"]
            + ["--size", "192", "--seed", "23"]
        )
        == 0
    )
    out = tmp_path / "eval"
    assert (
        main(
            ["evaluate", "--protocol", "300w-test", "--data-root", str(data)]
            + ["--checkpoint", "pretrained", "--out", str(out), "--no-progress"]
        )
        == 0
    )
    result = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert result["num_images"] >= 5
    assert result["summary"]["NME"] < 6.0
