"""Training checkpoint -> packaged model (float16 weights + ``manifest.json``) and back.

:func:`package_checkpoint` keeps only what inference needs (architecture, scheme, codec, crop
context and the state dict), stores floating-point tensors as float16 (a tensor whose values
float16 cannot hold, beyond +-65504, stays float32) and writes the weights file, then the
manifest with its sha256, each atomically (:mod:`otmark.atomic`). :func:`load_packaged` reads
it back with float32 tensors; :func:`otmark.models.load_model_from_checkpoint` reads the same
file (``load_state_dict`` copies float16 values into the float32 model).

Each function takes the packaged model's ``name`` (:data:`otmark.checkpoint_names.PACKAGED_MODELS`:
``pretrained`` or ``pretrained-fast``), which picks its manifest and weights file names, so that
several packaged models can share one weights folder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from otmark.atomic import save_torch_atomic, write_json_atomic
from otmark.checkpoint_names import (
    MANIFEST_FORMAT,
    PRETRAINED,
    packaged_model,
    read_manifest,
    sha256_file,
    verified_weights,
)
from otmark.models import read_checkpoint
from otmark.models.checkpoint import strip_prefixes

#: file name of the packaged weights
WEIGHTS_NAME = "otmark_pretrained.pt"
WEIGHTS_FORMAT = "otmark-packaged-weights-1"
#: the largest magnitude float16 holds
FLOAT16_MAX = float(torch.finfo(torch.float16).max)


def to_float16(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Floating-point tensors as float16 (float32 kept where float16 would overflow); others
    (e.g. BatchNorm's ``num_batches_tracked``) unchanged. Contiguous CPU copies."""
    out = {}
    for key, t in state.items():
        t = t.detach().cpu()
        if t.is_floating_point() and (t.numel() == 0 or float(t.abs().max()) <= FLOAT16_MAX):
            t = t.to(torch.float16)
        out[key] = t.contiguous().clone()
    return out


def to_float32(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Floating-point tensors as float32; others unchanged."""
    return {k: t.float() if t.is_floating_point() else t for k, t in state.items()}


def package_checkpoint(
    src_ckpt: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    recipe: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
    label_adaptation: dict[str, Any] | None = None,
    name: str = PRETRAINED,
) -> Path:
    """Convert a training checkpoint into a packaged model in ``out_dir``.

    Args:
        src_ckpt: a checkpoint written by :mod:`otmark.engine` (``best.pt`` / ``last.pt``).
        out_dir: the weights folder to write (``manifest.json`` + :data:`WEIGHTS_NAME`); an
            existing packaged model there is replaced.
        recipe: how the model was trained (stored in the manifest; default: the checkpoint's
            ``config``).
        data: what it was trained on (stored in the manifest).
        label_adaptation: an optional :mod:`otmark.inference.label_adapt` map (its ``to_dict``).
        name: which packaged model this is (its file names: ``manifest.json`` and
            :data:`WEIGHTS_NAME` for ``pretrained``, ``manifest_fast.json`` and
            ``otmark_pretrained_fast.pt`` for ``pretrained-fast``).

    Returns:
        The manifest path. Raises ``FileNotFoundError`` / ``ValueError`` naming the file for a
        missing or invalid checkpoint (one without ``scheme`` or ``codec`` included).
    """
    entry = packaged_model(name)
    src = Path(src_ckpt)
    ckpt = read_checkpoint(src)
    for key in ("scheme", "codec"):
        if key not in ckpt:
            raise ValueError(f"{src}: checkpoint lacks {key!r}, which the packaged model needs")
    codec = dict(ckpt["codec"])
    weights: dict[str, Any] = {
        "format": WEIGHTS_FORMAT,
        "model_name": ckpt["model_name"],
        "model_kwargs": dict(ckpt["model_kwargs"]),
        "scheme": ckpt["scheme"],
        "codec": codec,
        "model": to_float16(strip_prefixes(ckpt["model"])),
    }
    if label_adaptation is not None:
        weights["label_adaptation"] = dict(label_adaptation)
    out = Path(out_dir)
    path = save_torch_atomic(weights, out / entry.weights)
    metrics = ckpt.get("metrics") or {}
    manifest = {
        "format": MANIFEST_FORMAT,
        "name": entry.name,
        "weights": entry.weights,
        "sha256": sha256_file(path),
        "bytes": path.stat().st_size,
        "dtype": "float16",
        "model_name": weights["model_name"],
        "model_kwargs": weights["model_kwargs"],
        "scheme": weights["scheme"],
        "codec": codec,
        "recipe": recipe if recipe is not None else ckpt.get("config", {}),
        "data": data or {},
        "source": {
            "checkpoint": src.name,
            "epoch": ckpt.get("epoch"),
            "best_nme": ckpt.get("best_nme"),
            "metrics": {k: v for k, v in metrics.items() if isinstance(v, int | float | str)},
        },
    }
    if label_adaptation is not None:
        manifest["label_adaptation"] = dict(label_adaptation)
    return write_json_atomic(out / entry.manifest, _plain(manifest))


def load_packaged(
    folder: str | os.PathLike[str] | None = None, name: str = PRETRAINED
) -> dict[str, Any]:
    """The packaged model ``name``'s weights dict with float32 tensors, after the sha256 check.

    ``folder`` defaults to the weights folder (:func:`otmark.checkpoint_names.weights_dir`).
    Raises :class:`~otmark.checkpoint_names.PretrainedNotInstalled` or
    :class:`~otmark.checkpoint_names.CorruptWeights` naming the file.
    """
    path = verified_weights(folder, name)
    ckpt = read_checkpoint(path)
    ckpt["model"] = to_float32(ckpt["model"])
    return ckpt


def describe(folder: str | os.PathLike[str] | None = None, name: str = PRETRAINED) -> str:
    """A few lines on the packaged model ``name`` (for ``otmark pretrain --info``)."""
    m = read_manifest(folder, name)
    codec = m.get("codec", {})
    src = m.get("source", {})
    return "\n".join(
        [
            f"{m.get('model_name')} {m.get('model_kwargs')}, scheme {m.get('scheme')}",
            f"input {codec.get('input_size')} px, heatmap {codec.get('heatmap_size')}, "
            f"decoder {codec.get('decoder')}",
            f"weights {m['weights']}: {m.get('bytes')} bytes, {m.get('dtype')}, "
            f"sha256 {m['sha256']}",
            f"from {src.get('checkpoint')} (epoch {src.get('epoch')}, validation NME "
            f"{src.get('best_nme')})",
            f"data: {m.get('data')}",
        ]
    )


def _plain(value: Any) -> Any:
    """JSON-friendly copy (tuples -> lists, tensors/numpy scalars -> numbers)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    return value
