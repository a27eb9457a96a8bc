"""package_checkpoint: float16 weights + manifest, read back as float32 by every loader."""

from __future__ import annotations

import hashlib
import json

import pytest
import torch

from otmark.models import create_model, final_output, load_model_from_checkpoint
from otmark.pretrained import load_packaged, package_checkpoint
from otmark.pretrained.package import FLOAT16_MAX, to_float16


def test_weights_are_float16_and_manifest_describes_them(tiny_run):
    folder = tiny_run / "weights"
    manifest = json.loads((folder / "manifest.json").read_text())
    weights = folder / manifest["weights"]
    assert manifest["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert manifest["bytes"] == weights.stat().st_size
    ckpt = torch.load(tiny_run / "train" / "best.pt", weights_only=True)
    for key in ("model_name", "model_kwargs", "scheme", "codec"):
        assert manifest[key] == ckpt[key], key
    assert manifest["data"]["train_faces"] == 12
    assert manifest["recipe"]["config"]["loss"]["name"] == "wasserstein"
    raw = torch.load(weights, weights_only=True)
    floats = [t for t in raw["model"].values() if t.is_floating_point()]
    assert floats and all(t.dtype == torch.float16 for t in floats)
    assert "optimizer" not in raw and "rng" not in raw


def test_float32_round_trip(tiny_run):
    """The packaged weights are exactly the float16 rounding of the trained ones, restored as
    float32; the heatmaps stay within float16 precision of the float32 model's."""
    ckpt = torch.load(tiny_run / "train" / "best.pt", weights_only=True)
    packaged = load_packaged(tiny_run / "weights")
    for key, t in ckpt["model"].items():
        got = packaged["model"][key]
        if t.is_floating_point():
            assert got.dtype == torch.float32
            torch.testing.assert_close(got, t.half().float(), rtol=0, atol=0)
        else:
            assert torch.equal(got, t)

    ref = create_model(ckpt["model_name"], **ckpt["model_kwargs"]).eval()
    ref.load_state_dict(ckpt["model"])
    model, meta = load_model_from_checkpoint(tiny_run / "weights")
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert meta["codec"] == ckpt["codec"] and meta["scheme"] == "300w"
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a, b = final_output(ref(x)), final_output(model(x))
    scale = a.abs().max().item()
    assert (a - b).abs().max().item() <= 1e-2 * scale
    assert not torch.equal(a, b)  # the float16 rounding is real


def test_size_is_about_half_of_float32(tiny_run, tmp_path):
    ckpt = torch.load(tiny_run / "train" / "best.pt", weights_only=True)
    torch.save(ckpt["model"], tmp_path / "f32.pt")
    packed = (tiny_run / "weights" / "otmark_pretrained.pt").stat().st_size
    assert packed < 0.65 * (tmp_path / "f32.pt").stat().st_size


def test_to_float16_keeps_what_float16_cannot_hold():
    state = {
        "w": torch.tensor([1.0, -2.5]),
        "big": torch.tensor([FLOAT16_MAX * 2]),
        "n": torch.tensor(7, dtype=torch.int64),
    }
    out = to_float16(state)
    assert out["w"].dtype == torch.float16 and out["w"].tolist() == [1.0, -2.5]
    assert out["big"].dtype == torch.float32 and torch.isfinite(out["big"]).all()
    assert out["n"].dtype == torch.int64 and out["n"].item() == 7


def test_checkpoint_without_codec_is_refused(tmp_path):
    path = tmp_path / "bare.pt"
    model = create_model("hrnet_tiny", 5)
    torch.save(
        {
            "model_name": "hrnet_tiny",
            "model_kwargs": {"num_landmarks": 5},
            "model": model.state_dict(),
            "scheme": "aflw",
        },
        path,
    )
    with pytest.raises(ValueError, match=r"bare\.pt.*'codec'"):
        package_checkpoint(path, tmp_path / "w")
    assert not (tmp_path / "w" / "manifest.json").exists()


def test_repackaging_replaces_atomically(tiny_run, tmp_path):
    out = tmp_path / "w"
    package_checkpoint(tiny_run / "train" / "best.pt", out)
    first = (out / "manifest.json").read_text()
    package_checkpoint(tiny_run / "train" / "last.pt", out, data={"note": "second"})
    second = json.loads((out / "manifest.json").read_text())
    assert second["data"] == {"note": "second"} and first != json.dumps(second)
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "otmark_pretrained.pt"]


def test_label_adaptation_is_stored_and_applied(tiny_run, tmp_path):
    import numpy as np

    from otmark.inference import Detector

    ckpt, adapt, rng = _random_checkpoint_and_adaptation(tmp_path, seed=0)
    out = tmp_path / "w"
    package_checkpoint(ckpt, out, label_adaptation=adapt.to_dict())
    package_checkpoint(ckpt, tmp_path / "plain")
    assert json.loads((out / "manifest.json").read_text())["label_adaptation"]["faces"] == 4
    img = rng.integers(0, 256, (80, 80, 3), dtype=np.uint8)
    box = np.array([[10.0, 10.0, 70.0, 70.0]])
    plain = Detector.from_checkpoint(tmp_path / "plain", device="cpu").predict(img, box)
    adapted = Detector.from_checkpoint(out, device="cpu").predict(img, box)
    np.testing.assert_allclose(adapted, adapt.apply(plain), atol=1e-9)
    assert not np.allclose(adapted, plain)


def test_label_adaptation_travels_into_onnx(tiny_run, tmp_path):
    pytest.importorskip("onnxruntime")
    import numpy as np

    from otmark.export import export_checkpoint
    from otmark.inference import Detector
    from otmark.inference.label_adapt import PointOffsets

    ckpt, adapt, rng = _random_checkpoint_and_adaptation(tmp_path, seed=1)
    package_checkpoint(ckpt, tmp_path / "w", label_adaptation=adapt.to_dict())
    export_checkpoint(tmp_path / "w", tmp_path / "m.onnx")
    img = rng.integers(0, 256, (80, 80, 3), dtype=np.uint8)
    box = np.array([[10.0, 10.0, 70.0, 70.0]])
    onnx = Detector.from_onnx(tmp_path / "m.onnx", device="cpu")
    assert isinstance(onnx.adapt, PointOffsets)
    torch_det = Detector.from_checkpoint(tmp_path / "w", device="cpu")
    np.testing.assert_allclose(onnx.predict(img, box), torch_det.predict(img, box), atol=1e-3)


def _random_checkpoint_and_adaptation(tmp_path, seed: int):
    """A random hrnet_tiny checkpoint with GET_MAX (its points spread over the crop; a 2-step
    model's barycentres all sit near the centre) and a label adaptation fitted on random
    points; returns ``(checkpoint path, PointOffsets, the rng drawn from)``."""
    import numpy as np

    from otmark.inference.label_adapt import PointOffsets
    from otmark.schemes import get_scheme

    rng = np.random.default_rng(seed)
    k = get_scheme("300w").num_points
    preds = rng.uniform(0, 60, (4, k, 2))
    adapt = PointOffsets.fit(preds, preds + rng.normal(0, 1, (4, k, 2)))
    torch.manual_seed(0)
    ckpt = tmp_path / "random.pt"
    codec = {"input_size": 64, "heatmap_size": 16, "sigma": 1.5, "decoder": "get_max"}
    torch.save(
        {
            "model_name": "hrnet_tiny",
            "model_kwargs": {"num_landmarks": k},
            "model": create_model("hrnet_tiny", k).state_dict(),
            "scheme": "300w",
            "codec": codec,
        },
        ckpt,
    )
    return ckpt, adapt, rng
