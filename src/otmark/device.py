"""The one device resolver: a config's or a command line's device name -> ``torch.device``."""

from __future__ import annotations

import torch


def resolve_device(
    name: str | torch.device | None = "auto", local_rank: int | None = None
) -> torch.device:
    """``torch.device`` of a device name.

    Args:
        name: ``"auto"`` or None (CUDA when available, else the CPU), ``"cpu"``, ``"cuda"``,
            ``"cuda:1"``... or a ``torch.device``.
        local_rank: this process's GPU on its node (``torchrun``'s ``LOCAL_RANK``): ``auto`` and
            ``cuda`` then mean ``cuda:<local_rank>``. None leaves ``cuda`` without an index.

    Raises:
        ValueError: a CUDA device is asked for but torch sees none.
    """
    given = name
    if name is None or name == "auto":
        if not torch.cuda.is_available():
            return torch.device("cpu")
        name = "cuda"
    if name == "cuda" and local_rank is not None:
        name = f"cuda:{local_rank}"
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {str(given)!r} requested but torch sees no CUDA device")
    return device
