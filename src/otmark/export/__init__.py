"""Export of trained heatmap networks to ONNX (run with ONNX Runtime by
:class:`otmark.inference.Detector.from_onnx` or :func:`otmark.export.ort_session`)."""

from otmark.export.metadata import META_KEY, read_onnx_meta, sidecar_paths, write_onnx_meta
from otmark.export.onnx import (
    DEFAULT_OPSET,
    compare_with_onnxruntime,
    export_checkpoint,
    export_onnx,
    max_abs_difference,
)
from otmark.export.runtime import ort_session, run_session

__all__ = [
    "DEFAULT_OPSET",
    "META_KEY",
    "compare_with_onnxruntime",
    "export_checkpoint",
    "export_onnx",
    "max_abs_difference",
    "ort_session",
    "read_onnx_meta",
    "run_session",
    "sidecar_paths",
    "write_onnx_meta",
]
