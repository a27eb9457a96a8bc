"""ONNX export: ONNX Runtime equals PyTorch, dynamic batch, metadata, atomic writes."""

import numpy as np
import onnx
import pytest
import torch

from otmark.export import export_onnx, max_abs_difference, ort_session, run_session
from otmark.heatmaps import decode
from otmark.inference.onnx import read_onnx_meta
from otmark.models import create_model, final_output, tiny_kwargs


def calibrated(name, k=4, coordconv=False, size=64):
    """A tiny model with trained-like weights: unit-gain (Kaiming fan-in) convolutions and the
    BatchNorm statistics of one random batch, so that its eval-mode outputs are O(1) and well
    conditioned (HRNet's N(0, 0.001) init otherwise gives ~1e-20 outputs, and normalising those
    amplifies float32 rounding)."""
    torch.manual_seed(0)
    model = create_model(name, k, coordconv=coordconv, **tiny_kwargs(name))
    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d | torch.nn.ConvTranspose2d):
            torch.nn.init.kaiming_normal_(m.weight, nonlinearity="linear")
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average: after one batch, exactly its statistics
    model.train()
    with torch.no_grad():
        model(torch.randn(4, 3, size, size))
    return model.eval()


def torch_heatmaps(model, x):
    with torch.no_grad():
        return final_output(model(torch.as_tensor(x))).numpy()


@pytest.mark.parametrize(
    ("name", "coordconv"),
    [
        ("hrnet_tiny", False),
        ("hrnet_tiny", True),
        ("hourglass2", False),
        ("simple_baseline_r18", True),
        ("cpn", False),
    ],
)
def test_onnx_runtime_equals_pytorch_for_every_batch_size(tmp_path, name, coordconv):
    model = calibrated(name, coordconv=coordconv)
    path = export_onnx(model, tmp_path / "m.onnx", 64)
    session = ort_session(path)
    rng = np.random.default_rng(0)
    for batch in (1, 3):
        x = rng.standard_normal((batch, 3, 64, 64)).astype(np.float32)
        ref = torch_heatmaps(model, x)
        assert np.abs(ref).max() > 0.1  # outputs are not vanishing: the check has teeth
        got = run_session(session, x)
        assert got.shape == (batch, 4, 16, 16)
        # float32 rounding grows with the output scale (CPN's heads reach ~17): the tolerance
        # is relative to the largest output, ~100 float32 ulps of it
        np.testing.assert_allclose(got, ref, atol=1e-5 * np.abs(ref).max(), rtol=0)


def test_graph_signature_opset_and_dynamic_batch(tmp_path):
    model = calibrated("hrnet_tiny")
    path = export_onnx(model, tmp_path / "m.onnx", (64, 48), opset=18)
    proto = onnx.load(str(path))
    assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) == 18
    (inp,), (out,) = proto.graph.input, proto.graph.output
    assert inp.name == "images" and out.name == "heatmaps"
    dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    assert dims == ["batch", 3, 64, 48]
    assert out.type.tensor_type.shape.dim[0].dim_param == "batch"
    assert max_abs_difference(model, path, torch.randn(2, 3, 64, 48)) < 1e-4


def test_metadata_is_readable_by_the_detector_and_records_the_decoder(tmp_path):
    model = calibrated("hrnet_tiny", k=5)
    meta = {
        "scheme": "300w",
        "model_name": "hrnet_tiny",
        "codec": {"sigma": 1.5, "decoder": "get_max"},
        "history": [object()],  # not JSON: dropped, not an error
    }
    path = export_onnx(model, tmp_path / "m.onnx", 64, decode="get_bc", meta=meta)
    got = read_onnx_meta(path)
    assert got["scheme"] == "300w" and got["model_name"] == "hrnet_tiny"
    assert got["codec"] == {"sigma": 1.5, "decoder": "get_bc", "input_size": 64, "heatmap_size": 16}
    assert got["num_landmarks"] == 5 and "history" not in got
    assert meta["codec"]["decoder"] == "get_max"  # the caller's dict is not modified
    from otmark.inference import codec_from_meta

    assert codec_from_meta(got["codec"]).decoder == "get_bc"


@pytest.mark.parametrize("method", ["get_max", "get_bc"])
def test_decoding_after_onnx_gives_the_pytorch_coordinates(tmp_path, method):
    model = calibrated("simple_baseline_r18", k=6)
    path = export_onnx(model, tmp_path / "m.onnx", 64)
    x = np.random.default_rng(1).standard_normal((2, 3, 64, 64)).astype(np.float32)
    ours = decode(torch.from_numpy(run_session(ort_session(path), x)), method)
    ref = decode(torch.from_numpy(torch_heatmaps(model, x)), method)
    assert ours.shape == (2, 6, 2)
    np.testing.assert_allclose(ours.numpy(), ref.numpy(), atol=1e-4)


def test_export_keeps_the_training_mode_and_works_on_multi_output_models(tmp_path):
    model = calibrated("hourglass4").train()
    export_onnx(model, tmp_path / "m.onnx", 64)
    assert model.training
    session = ort_session(tmp_path / "m.onnx")
    assert len(session.get_outputs()) == 1  # only the final stack


class Broken(torch.nn.Module):
    def forward(self, x):
        raise RuntimeError("boom")


def test_failed_export_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "m.onnx"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="boom"):
        export_onnx(Broken(), path, 32)
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]
    export_onnx(calibrated("hrnet_tiny"), path, 32)  # overwrite: the new file is complete
    onnx.checker.check_model(onnx.load(str(path)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]


def test_bad_arguments(tmp_path):
    model = calibrated("hrnet_tiny")
    with pytest.raises(ValueError, match="opset"):
        export_onnx(model, tmp_path / "m.onnx", 64, opset=13)
    with pytest.raises(ValueError, match="decoder"):
        export_onnx(model, tmp_path / "m.onnx", 64, decode="argmax")
    with pytest.raises(FileNotFoundError, match="none.onnx"):
        ort_session(tmp_path / "none.onnx")
    with pytest.raises(ValueError, match="optimization"):
        export_onnx(model, tmp_path / "m.onnx", 64)
        ort_session(tmp_path / "m.onnx", optimization="max")
