"""``otmark export`` on checkpoints written in the engine's format."""

import numpy as np
import torch

from otmark.cli.main import main
from otmark.export import ort_session, run_session
from otmark.inference.onnx import read_onnx_meta
from otmark.models import create_model, load_model_from_checkpoint, tiny_kwargs


def write_checkpoint(path, name="hrnet_tiny", input_size=64):
    torch.manual_seed(0)
    kwargs = dict(num_landmarks=3, coordconv=False, **tiny_kwargs(name))
    model = create_model(name, **kwargs)
    for m in model.modules():  # trained-like weights (see test_export_onnx.calibrated)
        if isinstance(m, torch.nn.Conv2d | torch.nn.ConvTranspose2d):
            torch.nn.init.kaiming_normal_(m.weight, nonlinearity="linear")
    for bn in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):
        bn.momentum = None
    with torch.no_grad():
        model.train()(torch.randn(4, 3, input_size, input_size))
    torch.save(
        {
            "model_name": name,
            "model_kwargs": kwargs,
            "model": model.state_dict(),
            "scheme": "cofw",
            "codec": {
                "input_size": input_size,
                "heatmap_size": input_size // 4,
                "sigma": 1.5,
                "decoder": "get_bc",
                "softmax": True,
            },
            "epoch": 1,
        },
        path,
    )


def test_export_command_writes_a_verified_model(tmp_path, capsys):
    ckpt, out = tmp_path / "ckpt.pt", tmp_path / "sub" / "model.onnx"
    write_checkpoint(ckpt)
    assert main(["export", "--checkpoint", str(ckpt), "--onnx", str(out)]) == 0
    text = capsys.readouterr().out
    assert "wrote" in text and "max |difference|" in text and "largest |output|" in text
    model, _ = load_model_from_checkpoint(ckpt)
    x = np.random.default_rng(0).standard_normal((2, 3, 64, 64)).astype(np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    assert np.abs(ref).max() > 0.1
    np.testing.assert_allclose(run_session(ort_session(out), x), ref, atol=1e-4)
    meta = read_onnx_meta(out)
    assert meta["scheme"] == "cofw" and meta["codec"]["decoder"] == "get_bc"
    assert meta["model_kwargs"]["num_landmarks"] == 3


def test_input_size_and_decoder_overrides(tmp_path, capsys):
    ckpt, out = tmp_path / "ckpt.pt", tmp_path / "m.onnx"
    write_checkpoint(ckpt, name="simple_baseline_r18")
    args = ["export", "--checkpoint", str(ckpt), "--onnx", str(out), "--input-size", "96"]
    assert main([*args, "--decoder", "get_max", "--no-verify"]) == 0
    assert "max |difference|" not in capsys.readouterr().out
    session = ort_session(out)
    assert session.get_inputs()[0].shape[1:] == [3, 96, 96]
    assert run_session(session, np.zeros((1, 3, 96, 96), np.float32)).shape == (1, 3, 24, 24)
    assert read_onnx_meta(out)["codec"]["decoder"] == "get_max"


def test_errors_name_the_file_and_exit_2(tmp_path, capsys):
    missing = tmp_path / "missing.pt"
    assert main(["export", "--checkpoint", str(missing), "--onnx", str(tmp_path / "m.onnx")]) == 2
    assert "missing.pt" in capsys.readouterr().err
    bad = tmp_path / "bad.pt"
    torch.save({"model_name": "hrnet_tiny", "model": {}}, bad)
    assert main(["export", "--checkpoint", str(bad), "--onnx", str(tmp_path / "m.onnx")]) == 2
    err = capsys.readouterr().err
    assert "bad.pt" in err and "model_kwargs" in err
    assert not (tmp_path / "m.onnx").exists()
