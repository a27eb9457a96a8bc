"""Rebuild a model from a training checkpoint (shared by the engine, the detector and export).

Checkpoint format (written by :mod:`otmark.engine` with ``torch.save``): a dict with at least

- ``model_name``: a registry name (:func:`otmark.models.list_models`);
- ``model_kwargs``: ``create_model`` keyword arguments, including ``num_landmarks`` and
  ``coordconv``;
- ``model``: the state dict (a ``module.`` prefix from DDP or ``_orig_mod.`` from
  ``torch.compile`` is stripped);
- ``scheme``: the landmark scheme name;
- ``codec``: ``{"input_size", "heatmap_size", "sigma", "decoder", ...}``.

Other entries (epoch, metrics, optimizer state, ...) are allowed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from otmark.checkpoint_names import resolve_checkpoint
from otmark.models.registry import create_model

REQUIRED_KEYS = ("model_name", "model_kwargs", "model")
#: entries that are training state, not metadata (left out of ``meta``)
_STATE_KEYS = frozenset({"model", "optimizer", "scheduler", "lr_scheduler", "scaler", "rng"})
_PREFIXES = ("module.", "_orig_mod.")


def strip_prefixes(state: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in state.items():
        changed = True
        while changed:
            changed = False
            for prefix in _PREFIXES:
                if key.startswith(prefix):
                    key, changed = key[len(prefix) :], True
        out[key] = value
    return out


def read_checkpoint(path: str | Path, weights_only: bool = True) -> dict[str, Any]:
    """Load and validate a checkpoint dict (on the CPU).

    ``path`` may be ``pretrained`` or a packaged-model folder
    (:func:`otmark.pretrained.resolve_checkpoint`). ``weights_only=True`` (default) refuses
    pickled arbitrary objects; pass False only for checkpoints you trust. Raises
    ``FileNotFoundError`` / ``ValueError`` naming the file.
    """
    path = resolve_checkpoint(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint file does not exist")
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: checkpoint file is empty (0 bytes)")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=weights_only)
    except Exception as exc:  # corrupt file, not a torch file, disallowed pickle
        lines = str(exc).strip().splitlines()
        why = lines[0].split(". ")[0] if lines else f"{type(exc).__name__}: truncated"
        if isinstance(exc, EOFError) or "zip archive" in why:
            why = f"truncated or corrupt: {why}"
        raise ValueError(f"{path}: not a readable otmark checkpoint ({why})") from exc
    if not isinstance(ckpt, dict):
        raise ValueError(f"{path}: checkpoint must be a dict, got {type(ckpt).__name__}")
    missing = [k for k in REQUIRED_KEYS if k not in ckpt]
    if missing:
        raise ValueError(f"{path}: checkpoint lacks {', '.join(map(repr, missing))}")
    kwargs = ckpt["model_kwargs"]
    if not isinstance(kwargs, dict) or "num_landmarks" not in kwargs:
        raise ValueError(f"{path}: 'model_kwargs' must be a dict with 'num_landmarks'")
    if not isinstance(ckpt["model"], dict):
        raise ValueError(f"{path}: 'model' must be a state dict")
    return ckpt


def load_model_from_checkpoint(
    path: str | Path, weights_only: bool = True
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model saved in a checkpoint.

    Returns:
        ``(model, meta)``: the model with its weights, on the CPU, in eval mode; ``meta`` is the
        checkpoint dict without the training state (``model``, ``optimizer``, ``scheduler``,
        ...), i.e. ``model_name``, ``model_kwargs``, ``scheme``, ``codec`` and anything else.

    Raises ``ValueError`` naming the file for an unknown model name, bad kwargs or weights that
    do not fit the architecture.
    """
    ckpt = read_checkpoint(path, weights_only=weights_only)
    path = Path(path)
    name, kwargs = ckpt["model_name"], dict(ckpt["model_kwargs"])
    try:
        model = create_model(name, **kwargs)
    except (KeyError, TypeError, ValueError) as exc:
        msg = exc.args[0] if exc.args else exc
        raise ValueError(f"{path}: cannot build model {name!r} with {kwargs}: {msg}") from exc
    state = strip_prefixes(ckpt["model"])
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatches
        first = str(exc).strip().splitlines()[-1].strip()
        raise ValueError(f"{path}: weights do not fit {name!r} {kwargs}: {first}") from exc
    if result.missing_keys or result.unexpected_keys:
        raise ValueError(
            f"{path}: weights do not match {name!r} {kwargs}: "
            f"missing {result.missing_keys[:5]}, unexpected {result.unexpected_keys[:5]}"
        )
    model.eval()
    meta = {k: v for k, v in ckpt.items() if k not in _STATE_KEYS}
    return model, meta
