"""The export's example input follows the model's device (a CUDA model is traced on CUDA)."""

import pytest
import torch

from otmark.export import onnx as export_mod
from otmark.export.onnx import example_input, export_onnx, model_device
from otmark.models import create_model, tiny_kwargs


def test_example_input_is_on_the_model_device():
    model = create_model("hrnet_tiny", 3, **tiny_kwargs("hrnet_tiny"))
    x = example_input(model, 32, 48)
    assert x.shape == (1, 3, 32, 48) and x.device == next(model.parameters()).device
    meta = model.to("meta")
    assert model_device(meta) == torch.device("meta")
    assert example_input(meta, 32, 32).device == next(meta.parameters()).device
    assert model_device(torch.nn.ReLU()) == torch.device("cpu")  # no parameters


def test_export_traces_with_the_input_on_the_model_device(tmp_path, monkeypatch):
    """A model on another device than the CPU ('meta' stands in for CUDA): the shape probe and
    the tracer get an input on that device (a CPU input would fail in the first convolution)."""
    model = create_model("hrnet_tiny", 3, **tiny_kwargs("hrnet_tiny")).to("meta")
    seen = {}

    class Stop(Exception):
        pass

    def fake_export(graph, args, *a, **k):
        seen["device"] = args[0].device
        seen["param"] = next(graph.parameters()).device
        raise Stop

    monkeypatch.setattr(torch.onnx, "export", fake_export)
    with pytest.raises(Stop):
        export_onnx(model, tmp_path / "m.onnx", 32)
    assert seen == {"device": torch.device("meta"), "param": torch.device("meta")}
    assert not (tmp_path / "m.onnx").exists()
    assert export_mod.DEFAULT_OPSET >= 17
