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
    import onnxruntime as ort  # lazy: optional extra [onnx]

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


def _static(dim) -> int | None:
    """A graph dimension as an int, or None when it is symbolic (``"batch"``) or unknown."""
    return dim if isinstance(dim, int) and dim > 0 else None


def signature_problems(
    session,
    input_size: int,
    heatmap_size: int | None = None,
    num_points: int | None = None,
) -> list[str]:
    """How an ONNX model's graph disagrees with its metadata (``[]`` when it agrees).

    The first input must be ``(batch, 3, input_size, input_size)`` and the first output
    ``(batch, num_points, heatmap_size, heatmap_size)``; symbolic dimensions pass.
    """
    problems = []
    inp = session.get_inputs()[0]
    shape = list(inp.shape)
    if len(shape) != 4:
        return [f"its input {inp.name!r} has shape {shape}, not (batch, 3, H, W)"]
    if _static(shape[1]) not in (None, 3):
        problems.append(f"its input {inp.name!r} has {shape[1]} channels, not 3 (RGB)")
    h, w = _static(shape[2]), _static(shape[3])
    if (h is not None and h != input_size) or (w is not None and w != input_size):
        problems.append(
            f"the metadata's codec input_size is {input_size} but the graph's input "
            f"{inp.name!r} is {shape[2]}x{shape[3]} (shape {shape})"
        )
    out = session.get_outputs()[0]
    oshape = list(out.shape)
    if len(oshape) == 4:
        k, mh, mw = _static(oshape[1]), _static(oshape[2]), _static(oshape[3])
        if num_points is not None and k is not None and k != num_points:
            problems.append(
                f"the metadata's scheme has {num_points} points but the graph's output "
                f"{out.name!r} has {k} heatmaps (shape {oshape})"
            )
        if heatmap_size is not None and any(m not in (None, heatmap_size) for m in (mh, mw)):
            problems.append(
                f"the metadata's codec heatmap_size is {heatmap_size} but the graph's output "
                f"{out.name!r} is {oshape[2]}x{oshape[3]} (shape {oshape})"
            )
    return problems


def check_signature(
    session,
    path: str | os.PathLike[str],
    input_size: int,
    heatmap_size: int | None = None,
    num_points: int | None = None,
) -> None:
    """``ValueError`` naming ``path`` when the graph disagrees with the metadata
    (:func:`signature_problems`): checked when the model is loaded, not when ONNX Runtime
    first refuses an input."""
    problems = signature_problems(session, input_size, heatmap_size, num_points)
    if problems:
        raise ValueError(
            f"{path}: the otmark metadata does not match the ONNX graph: {'; '.join(problems)} "
            "(re-export the model with otmark export, or fix the metadata)"
        )
