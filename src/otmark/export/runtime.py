"""ONNX Runtime sessions with explicit threading and graph-optimisation settings."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

#: name -> onnxruntime GraphOptimizationLevel attribute
OPTIMIZATION_LEVELS = {
    "disable": "ORT_DISABLE_ALL",
    "basic": "ORT_ENABLE_BASIC",
    "extended": "ORT_ENABLE_EXTENDED",
    "all": "ORT_ENABLE_ALL",
}


def ort_session(
    path: str | os.PathLike[str],
    intra_op_threads: int | None = None,
    optimization: str = "all",
    providers: list[str] | None = None,
):
    """An ``onnxruntime.InferenceSession`` for the model at ``path`` (CPU by default).

    Args:
        intra_op_threads: threads for one operator (None: ONNX Runtime's default, all cores).
        optimization: graph optimisation level, one of ``disable``, ``basic``, ``extended``,
            ``all``.
    """
    import onnxruntime as ort

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: ONNX model does not exist")
    if optimization not in OPTIMIZATION_LEVELS:
        raise ValueError(
            f"unknown optimization {optimization!r}; valid: {sorted(OPTIMIZATION_LEVELS)}"
        )
    opts = ort.SessionOptions()
    opts.graph_optimization_level = getattr(
        ort.GraphOptimizationLevel, OPTIMIZATION_LEVELS[optimization]
    )
    if intra_op_threads is not None:
        opts.intra_op_num_threads = int(intra_op_threads)
        opts.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(
            str(path), sess_options=opts, providers=providers or ["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ValueError(f"{path}: ONNX Runtime cannot load it ({exc})") from None


def run_session(session, images: np.ndarray) -> np.ndarray:
    """Run a heatmap model: ``images (B, 3, H, W)`` float32 -> heatmaps ``(B, K, h, w)``."""
    name = session.get_inputs()[0].name
    x = np.ascontiguousarray(images, dtype=np.float32)
    return np.asarray(session.run(None, {name: x})[0])
