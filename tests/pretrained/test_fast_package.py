"""The second packaged model, ``pretrained-fast``: packaging round trip on a tiny random small
net, name resolution next to ``pretrained``, and the not-built message."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from otmark.checkpoint_names import (
    PACKAGED_MODELS,
    PRETRAINED_FAST,
    PretrainedNotInstalled,
    resolve_checkpoint,
    sha256_file,
)
from otmark.cli.main import main
from otmark.inference import Detector
from otmark.models import create_model, tiny_kwargs
from otmark.pretrained.package import describe, load_packaged, package_checkpoint
from otmark.schemes import get_scheme

SCHEME = "aflw"
CODEC = {"input_size": 64, "heatmap_size": 16, "sigma": 1.5, "decoder": "get_bc", "softmax": True}


def _tiny_fast_checkpoint(path, seed=0):
    torch.manual_seed(seed)
    k = get_scheme(SCHEME).num_points
    kw = tiny_kwargs("mobilenet_v2")
    model = create_model("mobilenet_v2", k, **kw)
    with torch.no_grad():  # a non-flat head, so that predictions depend on the weights
        model.head.weight.normal_(0.0, 0.3)
    torch.save(
        {
            "model_name": "mobilenet_v2",
            "model_kwargs": {"num_landmarks": k, **kw},
            "model": model.state_dict(),
            "scheme": SCHEME,
            "codec": dict(CODEC),
            "epoch": 3,
        },
        path,
    )
    return path


@pytest.fixture
def fast_weights(tmp_path, monkeypatch):
    ckpt = _tiny_fast_checkpoint(tmp_path / "best.pt")
    folder = tmp_path / "weights"
    manifest = package_checkpoint(ckpt, folder, name=PRETRAINED_FAST)
    monkeypatch.setenv("OTMARK_WEIGHTS_DIR", str(folder))
    return ckpt, folder, manifest


def test_package_writes_its_own_file_names_with_the_sha256(fast_weights):
    ckpt, folder, manifest = fast_weights
    entry = PACKAGED_MODELS[PRETRAINED_FAST]
    assert manifest == folder / entry.manifest == folder / "manifest_fast.json"
    doc = json.loads(manifest.read_text())
    assert doc["name"] == PRETRAINED_FAST and doc["model_name"] == "mobilenet_v2"
    assert doc["weights"] == "otmark_pretrained_fast.pt"
    assert doc["sha256"] == sha256_file(folder / doc["weights"])
    assert sorted(p.name for p in folder.iterdir()) == sorted([entry.manifest, entry.weights])
    assert "mobilenet_v2" in describe(folder, PRETRAINED_FAST)


def test_name_resolves_to_the_fast_weights_and_loads_the_same_model(fast_weights):
    ckpt, folder, _ = fast_weights
    assert resolve_checkpoint(PRETRAINED_FAST) == folder / "otmark_pretrained_fast.pt"
    assert resolve_checkpoint(folder) == folder / "otmark_pretrained_fast.pt"
    state = load_packaged(folder, PRETRAINED_FAST)["model"]
    ref = torch.load(ckpt, weights_only=True)["model"]
    for key, value in ref.items():
        if value.is_floating_point():
            torch.testing.assert_close(state[key], value, atol=2e-3, rtol=2e-3)
    det = Detector.from_checkpoint(PRETRAINED_FAST, device="cpu")
    ref_det = Detector.from_checkpoint(ckpt, device="cpu")
    img = np.random.default_rng(0).integers(0, 256, (80, 90, 3), dtype=np.uint8)
    box = np.array([[10.0, 12.0, 70.0, 72.0]])
    a, b = det.predict(img, box), ref_det.predict(img, box)
    assert a.shape == (1, get_scheme(SCHEME).num_points, 2)
    assert np.abs(a - b).max() < 0.5


def test_both_packaged_models_share_one_folder(fast_weights, tmp_path):
    ckpt, folder, _ = fast_weights
    with pytest.raises(PretrainedNotInstalled, match="'pretrained'"):
        resolve_checkpoint("pretrained")
    package_checkpoint(ckpt, folder)  # the same net packaged as 'pretrained'
    assert resolve_checkpoint("pretrained") == folder / "otmark_pretrained.pt"
    assert resolve_checkpoint(PRETRAINED_FAST) == folder / "otmark_pretrained_fast.pt"
    assert resolve_checkpoint(folder) == folder / "otmark_pretrained.pt"  # the first one


def test_not_built_says_how_to_build_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OTMARK_WEIGHTS_DIR", str(tmp_path / "empty"))
    with pytest.raises(PretrainedNotInstalled) as err:
        resolve_checkpoint(PRETRAINED_FAST)
    text = str(err.value)
    assert "'pretrained-fast'" in text and "otmark pretrain --model fast" in text
    assert "manifest_fast.json" in text and "\n" not in text
    img = tmp_path / "a.png"
    import cv2

    cv2.imwrite(str(img), np.zeros((40, 40, 3), np.uint8))
    rc = main(["detect", str(img), "--checkpoint", PRETRAINED_FAST, "--whole-image"])
    assert rc == 2
    assert "otmark pretrain --model fast" in capsys.readouterr().err


def test_pretrain_model_fast_picks_the_packaged_fast_config(capsys):
    assert main(["pretrain", "--model", "fast", "--print-config"]) == 0
    text = capsys.readouterr().out
    assert "name: mobilenet_v2" in text and "input_size: 128" in text
    assert "runs/pretrained-fast/train" in text


def test_pretrain_package_and_info_with_model_fast(tmp_path, capsys):
    ckpt = _tiny_fast_checkpoint(tmp_path / "best.pt")
    folder = tmp_path / "w"
    argv = ["pretrain", "--model", "fast", "--weights", str(folder)]
    assert main([*argv, "--package", str(ckpt)]) == 0
    assert (folder / "manifest_fast.json").is_file() and not (folder / "manifest.json").exists()
    capsys.readouterr()
    assert main([*argv, "--info"]) == 0
    assert "mobilenet_v2" in capsys.readouterr().out


def test_the_shipped_fast_model_finds_generated_faces(monkeypatch):
    """The packaged ``pretrained-fast`` (float16, <= 5 MB, sha256-checked on load) on generated
    300W faces cropped from their landmarks' tight box: close to the truth and to the packaged
    HRNet (its validation NME on 512 held-out generated faces was 3.56 %)."""
    from otmark.inference import Detector
    from otmark.pretrained import package_weights_dir
    from otmark.schemes.normalisers import normaliser
    from otmark.synth.background import render_background
    from otmark.synth.domains import get_domain
    from otmark.synth.generate import render_scene, sample_scene
    from otmark.transforms import tight_box

    monkeypatch.delenv("OTMARK_WEIGHTS_DIR", raising=False)
    assert (package_weights_dir() / "otmark_pretrained_fast.pt").stat().st_size <= 5_000_000
    fast = Detector.from_checkpoint("pretrained-fast", device="cpu", passes=1)
    hrnet = Detector.from_checkpoint("pretrained", device="cpu", passes=1)
    errors, gaps = [], []
    for seed in (3, 5, 8):
        rng = np.random.default_rng(seed)
        scene = sample_scene(get_domain("300w"), rng, "300w", (160, 160))
        r = render_scene(scene, render_background(rng, 160, 160, 0.3, photos=False), ("300w",), rng)
        truth = r.landmarks["300w"]
        box = tight_box(truth)[None]
        a, b = fast.predict(r.image, box)[0], hrnet.predict(r.image, box)[0]
        iod = normaliser(truth[None], "300w")[0]  # the scheme's inter-ocular distance
        errors.append(np.linalg.norm(a - truth, axis=1).mean() / iod)
        gaps.append(np.linalg.norm(a - b, axis=1).mean() / iod)
    assert max(errors) < 0.06, errors
    assert max(gaps) < 0.06, gaps
