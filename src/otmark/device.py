"""The one device resolver: a config's or a command line's device name -> ``torch.device``."""

from __future__ import annotations

import os
import warnings

import torch


def resolve_device(
    name: str | torch.device | None = "auto", local_rank: int | None = None
) -> torch.device:
    """``torch.device`` of a device name.

    Args:
        name: ``"auto"`` or None (CUDA when available, else the CPU), ``"cpu"``, ``"cuda"``,
            ``"cuda:1"``... or a ``torch.device``.
        local_rank: this process's GPU on its node: ``auto`` and ``cuda`` then mean
            ``cuda:<local_rank>``. None takes ``torchrun``'s ``LOCAL_RANK`` when the process was
            launched by it, and otherwise leaves ``cuda`` without an index.

    Under ``torchrun`` (``LOCAL_RANK`` in the environment) the CUDA index always comes from
    ``LOCAL_RANK``, so that every process has its own GPU: an explicit ``cuda:N`` with
    ``N != LOCAL_RANK`` warns and becomes ``cuda:<LOCAL_RANK>`` (choose GPUs with
    ``CUDA_VISIBLE_DEVICES``).

    Raises:
        ValueError: a CUDA device is asked for but torch sees none, or its index is not a
            visible GPU.
    """
    given = name
    launched = "LOCAL_RANK" in os.environ
    if local_rank is None and launched:
        local_rank = int(os.environ["LOCAL_RANK"])
    if name is None or name == "auto":
        if not torch.cuda.is_available():
            return torch.device("cpu")
        name = "cuda"
    device = torch.device(name)
    if device.type != "cuda":
        return device
    if not torch.cuda.is_available():
        raise ValueError(f"device {str(given)!r} requested but torch sees no CUDA device")
    if local_rank is not None:
        if device.index is None:
            device = torch.device("cuda", local_rank)
        elif launched and device.index != local_rank:
            warnings.warn(
                f"device {str(given)!r} under torchrun: using cuda:{local_rank} (LOCAL_RANK), "
                "so that every process has its own GPU; choose GPUs with CUDA_VISIBLE_DEVICES",
                stacklevel=2,
            )
            device = torch.device("cuda", local_rank)
    if device.index is not None and device.index >= torch.cuda.device_count():
        origin = " (LOCAL_RANK)" if launched and device.index == local_rank else ""
        raise ValueError(
            f"device {str(given)!r}: cuda:{device.index}{origin} but "
            f"{torch.cuda.device_count()} GPU(s) visible"
        )
    return device
