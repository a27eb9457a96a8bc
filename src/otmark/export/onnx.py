"""Export a heatmap network to ONNX.

Design choice: **the graph is the heatmap network only**. It maps ImageNet-normalised images
``images: (B, 3, H, W)`` float32 to ``heatmaps: (B, K, H/4, W/4)`` logits (the final stack for
Hourglass/CPN); the batch axis is dynamic, ``H`` and ``W`` are fixed at export. Decoding to
coordinates happens after ONNX Runtime, in the caller, with the model's
:class:`otmark.heatmaps.HeatmapCodec` (``get_max`` or ``get_bc``, softmax when the training
loss outputs logits), exactly as for the PyTorch model: one file then serves both decoders and
flip testing, and the ONNX output can be compared with PyTorch tensor for tensor. The codec is
recorded in the model's metadata (``metadata_props["otmark"]``, a JSON object
``{"scheme", "codec": {...}, ...}``: the checkpoint's ``codec`` entry, so that the ONNX model
decodes as the checkpoint does), read by :func:`otmark.export.metadata.read_onnx_meta` and
``Detector.from_onnx``.
"""

from __future__ import annotations

import io
import json
import os
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from otmark.atomic import atomic_path
from otmark.export.metadata import write_onnx_meta
from otmark.export.runtime import ort_session, run_session
from otmark.heatmaps import get_decoder
from otmark.models import load_model_from_checkpoint
from otmark.models.outputs import final_output

DEFAULT_OPSET = 17
INPUT_NAME = "images"
OUTPUT_NAME = "heatmaps"


class _FinalHeatmaps(nn.Module):
    """Wraps a model so that it returns one tensor (the final stack) in any mode."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: Tensor) -> Tensor:
        return final_output(self.model(images))


def _pair(size: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    if isinstance(size, int | np.integer):
        return int(size), int(size)
    h, w = (int(v) for v in size)
    return h, w


def model_device(model: nn.Module) -> torch.device:
    """The device of ``model``'s first parameter (or buffer); CPU for a model with neither."""
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


def example_input(model: nn.Module, height: int, width: int) -> Tensor:
    """The export's example input ``(1, 3, height, width)`` zeros, on ``model``'s device (a
    CUDA model is traced on CUDA: the ONNX graph does not depend on the device)."""
    return torch.zeros(1, 3, height, width, device=model_device(model))


def _json_safe(meta: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON-serialisable part of ``meta`` (tuples become lists; other values are dropped)."""
    out = {}
    for key, value in meta.items():
        try:
            out[key] = json.loads(json.dumps(value))
        except (TypeError, ValueError):
            continue
    return out


def export_onnx(
    model: nn.Module,
    path: str | os.PathLike[str],
    input_size: int | tuple[int, int],
    decode: str | None = None,
    meta: Mapping[str, Any] | None = None,
    opset: int = DEFAULT_OPSET,
    check: bool = True,
) -> Path:
    """Export ``model`` (in eval mode) to an ONNX file, written atomically.

    Args:
        model: any :func:`otmark.models.create_model` model (or a module returning heatmaps
            ``(B, K, h, w)`` or a list of them).
        path: the ``.onnx`` file to write (parent folders are created).
        input_size: ``N`` or ``(H, W)`` of the input crops.
        decode: the decoder the runtime applies to the output (``"get_max"`` or ``"get_bc"``);
            stored as ``codec["decoder"]`` in the metadata. None keeps ``meta``'s codec decoder.
            The graph itself always outputs heatmaps (see the module docstring).
        meta: metadata to embed, typically a checkpoint's (``scheme``, ``codec``,
            ``model_name``, ``model_kwargs``); non-JSON values are dropped. ``codec`` gets
            ``input_size`` and ``heatmap_size`` filled in when missing.
        opset: ONNX opset (>= 17).
        check: run ``onnx.checker.check_model`` before writing.

    Returns:
        ``Path(path)``.
    """
    import onnx  # lazy: optional extra [onnx]

    if opset < 17:
        raise ValueError(f"opset must be >= 17, got {opset}")
    if decode is not None:
        get_decoder(decode)
    h, w = _pair(input_size)
    was_training = model.training
    graph = _FinalHeatmaps(model).eval()
    try:
        dummy = example_input(model, h, w)
        with torch.no_grad():
            out_shape = tuple(graph(dummy).shape)
        buffer = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notices
            torch.onnx.export(
                graph,
                (dummy,),
                buffer,
                dynamo=False,
                opset_version=opset,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
                do_constant_folding=True,
            )
    finally:
        model.train(was_training)
    proto = onnx.load_from_string(buffer.getvalue())
    info = _json_safe(meta or {})
    codec = dict(info.get("codec") or {})
    codec.setdefault("input_size", h if h == w else [h, w])
    codec.setdefault(
        "heatmap_size", out_shape[-2] if out_shape[-2] == out_shape[-1] else list(out_shape[-2:])
    )
    if decode is not None:
        codec["decoder"] = decode
    info["codec"] = codec
    info["num_landmarks"] = int(out_shape[1])
    info["graph"] = {"input": INPUT_NAME, "output": OUTPUT_NAME, "decoding": "outside the graph"}
    write_onnx_meta(proto, info)
    proto.producer_name = "otmark"
    if check:
        onnx.checker.check_model(proto)
    with atomic_path(path) as tmp:
        tmp.write_bytes(proto.SerializeToString())
    return Path(path)


def compare_with_onnxruntime(
    model: nn.Module, onnx_path: str | os.PathLike[str], images: Tensor | np.ndarray
) -> dict[str, float]:
    """Run PyTorch (eval mode) and ONNX Runtime on ``images (B, 3, H, W)``.

    Returns:
        ``{"max_abs_diff": max |PyTorch - ORT|, "max_abs_output": max |PyTorch|}`` over the
        heatmaps (the second tells whether the first is meaningful: an untrained HRNet's
        outputs are ~1e-20).
    """
    x = torch.as_tensor(np.asarray(images, dtype=np.float32))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            ref = final_output(model(x.to(model_device(model)))).float().cpu().numpy()
    finally:
        model.train(was_training)
    got = run_session(ort_session(onnx_path), x.numpy())
    if got.shape != ref.shape:
        raise ValueError(f"{onnx_path}: output shape {got.shape} != PyTorch {ref.shape}")
    return {
        "max_abs_diff": float(np.abs(got - ref).max()),
        "max_abs_output": float(np.abs(ref).max()),
    }


def max_abs_difference(
    model: nn.Module, onnx_path: str | os.PathLike[str], images: Tensor | np.ndarray
) -> float:
    """Largest ``|PyTorch - ONNX Runtime|`` over the heatmaps of ``images (B, 3, H, W)``."""
    return compare_with_onnxruntime(model, onnx_path, images)["max_abs_diff"]


def export_checkpoint(
    checkpoint: str | os.PathLike[str],
    onnx_path: str | os.PathLike[str],
    input_size: int | tuple[int, int] | None = None,
    decode: str | None = None,
    opset: int = DEFAULT_OPSET,
    verify_batch: int = 2,
    seed: int = 0,
) -> dict[str, Any]:
    """Load a training checkpoint and export its model (what ``otmark export`` runs).

    ``input_size`` defaults to the checkpoint's ``codec["input_size"]``. With
    ``verify_batch > 0`` ONNX Runtime is compared with PyTorch on that many random images
    (seeded) and the difference is reported.

    Returns:
        ``{"onnx", "checkpoint", "model_name", "input_size", "output_shape", "opset",
        "max_abs_diff", "max_abs_output" (None when not verified), "seconds"}``.
    """
    start = time.perf_counter()
    model, meta = load_model_from_checkpoint(checkpoint)
    if input_size is None:
        codec = meta.get("codec") or {}
        if "input_size" not in codec:
            raise ValueError(f"{checkpoint}: no codec['input_size']; pass the input size")
        input_size = _pair(codec["input_size"])
    h, w = _pair(input_size)
    path = export_onnx(model, onnx_path, (h, w), decode=decode, meta=meta, opset=opset)
    compared = {"max_abs_diff": None, "max_abs_output": None}
    if verify_batch > 0:
        gen = torch.Generator().manual_seed(seed)
        images = torch.randn(verify_batch, 3, h, w, generator=gen)
        compared = compare_with_onnxruntime(model, path, images)
    with torch.no_grad():
        shape = list(final_output(model(torch.zeros(1, 3, h, w))).shape[1:])
    return {
        "onnx": str(path),
        "checkpoint": str(checkpoint),
        "model_name": meta.get("model_name"),
        "input_size": [h, w],
        "output_shape": ["batch", *shape],
        "opset": opset,
        **compared,
        "seconds": time.perf_counter() - start,
    }
