"""Run an exported ONNX model with ONNX Runtime (:class:`OnnxBackend`).

The metadata the detector needs (``scheme`` and ``codec``) is read by
:func:`otmark.export.metadata.read_onnx_meta`, re-exported here.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from otmark.export.metadata import (  # noqa: F401 (re-exported)
    META_KEY,
    read_onnx_meta,
    sidecar_paths,
    write_onnx_meta,
)
from otmark.export.runtime import check_signature, ort_session, run_session
from otmark.schemes import get_scheme


def cuda_provider_available() -> bool:
    """Whether the installed ONNX Runtime has the CUDA execution provider."""
    import onnxruntime as ort  # lazy: optional extra [onnx]

    return "CUDAExecutionProvider" in ort.get_available_providers()


class OnnxBackend:
    """A detector backend running an ONNX model with ONNX Runtime.

    Called with crops ``(B, 3, N, N)`` float32, returns the first output ``(B, K, M, M)`` as a
    CPU tensor. The session comes from :func:`otmark.export.ort_session` (all graph
    optimisations); ``device`` ``cuda`` puts the CUDA execution provider first (it must be
    installed: ``onnxruntime-gpu``).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        device: str | torch.device = "cpu",
        intra_op_threads: int | None = None,
    ) -> None:
        self.path = Path(path)
        providers = ["CPUExecutionProvider"]
        if torch.device(device).type == "cuda":
            if not cuda_provider_available():
                raise ValueError(f"{self.path}: onnxruntime has no CUDA execution provider")
            providers.insert(0, "CUDAExecutionProvider")
        self.session = ort_session(self.path, intra_op_threads, providers=providers)

    def check_metadata(self, codec, scheme: str | None = None) -> None:
        """``ValueError`` naming the file when the graph's input or output shape disagrees with
        the metadata's ``codec`` (input and heatmap sizes) or ``scheme`` (landmark count)
        (:func:`otmark.export.runtime.check_signature`)."""
        k = get_scheme(scheme).num_points if scheme is not None else None
        check_signature(self.session, self.path, int(codec.input_size), int(codec.heatmap_size), k)

    def __call__(self, crops: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(run_session(self.session, crops.detach().cpu().numpy()))
