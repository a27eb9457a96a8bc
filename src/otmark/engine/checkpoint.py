"""Training checkpoints: written atomically, loadable with ``torch.load(weights_only=True)``.

The dict (shared with :func:`otmark.models.load_model_from_checkpoint`)::

    model_name, model_kwargs (incl. num_landmarks, coordconv), model (state dict),
    scheme, codec {input_size, heatmap_size, sigma, decoder, softmax},
    optimizer, scheduler, scaler (fp16 only), epoch (completed epochs), step (batches already
    done in epoch ``epoch`` when interrupted inside it, else 0), config (plain dict),
    rng {torch, cuda, numpy, python}, history (list of per-epoch log rows), best_nme, metrics,
    mid_epoch (True when written inside an epoch), reason (``epoch``, ``periodic``, ``signal``,
    ``exception`` or ``validation``), partial (inside an epoch: ``position`` = local samples already
    consumed, ``loss_sum``, ``images``, ``seconds`` of the steps done).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import torch

from otmark.atomic import save_torch_atomic, write_text_atomic
from otmark.models import read_checkpoint

__all__ = ["save_atomic", "write_text_atomic"]  # re-exported for the engine

#: ``torch.save(obj)`` to ``path`` atomically: :func:`otmark.atomic.save_torch_atomic`
save_atomic = save_torch_atomic


def capture_rng_state() -> dict:
    """Torch (CPU and CUDA), numpy (legacy global) and Python RNG states, as plain types."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002 (the global RNG other libraries use)
    py_version, py_state, py_gauss = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
        },
        "python": [py_version, list(py_state), py_gauss],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict) -> None:
    """Inverse of :func:`capture_rng_state`."""
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(  # noqa: NPY002
        (n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"])
    )
    version, py_state, gauss = state["python"]
    random.setstate((version, tuple(py_state), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The bare model inside DDP / ``torch.compile`` wrappers."""
    while True:
        inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None)
        if inner is None:
            return model
        model = inner


@dataclass
class ModelRecord:
    """What every checkpoint of a run holds unchanged: the model (its weights are read at each
    write), how to rebuild it (``model_name``, ``model_kwargs``), its ``scheme`` and ``codec``
    dict, the run's ``config`` dict and the training objects to resume (None: left out)."""

    model: torch.nn.Module
    model_name: str
    model_kwargs: dict
    scheme: str
    codec: dict
    config: dict | None = None
    optimizer: torch.optim.Optimizer | None = None
    scheduler: object = None
    scaler: object = None


@dataclass
class RunPosition:
    """Where a run is when a checkpoint is written: completed ``epoch``s, ``step`` (batches done
    inside epoch ``epoch`` when written inside it, else 0), the log ``history``, ``best_nme``,
    the latest validation ``metrics``, the ``reason`` and, inside an epoch, ``partial``."""

    epoch: int = 0
    step: int = 0
    history: list | None = None
    best_nme: float | None = None
    metrics: dict | None = None
    reason: str = "epoch"
    partial: dict | None = None


def checkpoint_dict(record: ModelRecord, position: RunPosition) -> dict:
    """Assemble the checkpoint dict (see the module docstring)."""
    ckpt = {
        "format": "otmark-checkpoint-1",
        "model_name": record.model_name,
        "model_kwargs": dict(record.model_kwargs),
        "model": unwrap(record.model).state_dict(),
        "scheme": record.scheme,
        "codec": dict(record.codec),
        "epoch": int(position.epoch),
        "step": int(position.step),
        "config": record.config or {},
        "rng": capture_rng_state(),
        "history": list(position.history or []),
        "best_nme": position.best_nme,
        "metrics": dict(position.metrics or {}),
        "mid_epoch": position.partial is not None,
        "reason": position.reason,
    }
    if position.partial is not None:
        ckpt["partial"] = dict(position.partial)
    for name in ("optimizer", "scheduler", "scaler"):
        obj = getattr(record, name)
        if obj is not None:
            ckpt[name] = obj.state_dict()
    return ckpt


def write_checkpoint(path: str | Path, record: ModelRecord, position: RunPosition) -> Path:
    """:func:`checkpoint_dict` written atomically to ``path``."""
    return save_atomic(checkpoint_dict(record, position), path)


_POSITION_FIELDS = {f.name for f in fields(RunPosition)}


def make_checkpoint(model: torch.nn.Module, **kwargs) -> dict:
    """The checkpoint dict from keyword arguments: the fields of :class:`ModelRecord` (but
    ``model``) and of :class:`RunPosition`."""
    position = {k: kwargs.pop(k) for k in list(kwargs) if k in _POSITION_FIELDS}
    return checkpoint_dict(ModelRecord(model, **kwargs), RunPosition(**position))


def save_checkpoint(path: str | Path, **kwargs) -> Path:
    """:func:`make_checkpoint` + :func:`save_atomic` (same keyword arguments, plus ``model``)."""
    model = kwargs.pop("model")
    return save_atomic(make_checkpoint(model, **kwargs), path)


def _reason(exc: BaseException) -> str:
    """The first line of an exception's message, or its type when the message is empty."""
    text = str(exc).strip()
    return text.splitlines()[0].strip() if text else type(exc).__name__


def read_training_checkpoint(path: str | Path) -> dict:
    """:func:`otmark.models.read_checkpoint` with one-line errors naming the file: an empty
    (0-byte) file, a truncated or corrupt one, one that is not a checkpoint.

    Raises ``FileNotFoundError`` / ``ValueError``.
    """
    p = Path(path)
    if p.is_file() and p.stat().st_size == 0:
        raise ValueError(f"{p}: checkpoint file is empty (0 bytes)")
    try:
        return read_checkpoint(p)
    except FileNotFoundError:
        raise
    except Exception as exc:
        cause = exc.__cause__
        if cause is None:  # read_checkpoint's own one-line message (missing keys...)
            raise ValueError(_reason(exc)) from exc
        why = _reason(cause).split(". ")[0]
        if isinstance(cause, EOFError) or "zip archive" in why:
            why = f"truncated or corrupt ({why})"
        raise ValueError(f"{p}: not a readable otmark checkpoint: {why}") from exc


def load_checkpoint(
    path: str | Path,
    model: torch.nn.Module | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler=None,
    scaler=None,
    restore_rng: bool = False,
) -> dict:
    """Read a checkpoint and restore the given objects from it.

    Args:
        path: a checkpoint written by :func:`save_checkpoint`.
        model, optimizer, scheduler, scaler: restored in place when given.
        restore_rng: also restore the torch/numpy/python RNG states.

    Returns:
        The checkpoint dict. Raises ``FileNotFoundError``/``ValueError`` naming the file.
    """
    ckpt = read_training_checkpoint(path)
    restore_checkpoint(ckpt, path, model, optimizer, scheduler, scaler, restore_rng)
    return ckpt


def restore_checkpoint(
    ckpt: dict,
    path: str | Path,
    model: torch.nn.Module | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler=None,
    scaler=None,
    restore_rng: bool = False,
) -> None:
    """Restore the given objects from a checkpoint dict read from ``path`` (named in errors)."""
    if model is not None:
        try:
            unwrap(model).load_state_dict(ckpt["model"])
        except RuntimeError as exc:
            raise ValueError(f"{path}: weights do not fit the model: {_reason(exc)}") from exc
    for name, obj in (("optimizer", optimizer), ("scheduler", scheduler), ("scaler", scaler)):
        if obj is not None:
            if name not in ckpt:
                raise ValueError(f"{path}: checkpoint has no {name} state to resume from")
            obj.load_state_dict(ckpt[name])
    if restore_rng and "rng" in ckpt:
        restore_rng_state(ckpt["rng"])
