"""The one device resolver: a config's or a command line's device name -> ``torch.device``."""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable

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


def _read_cpu_times() -> tuple[int, int]:
    """``(busy, total)`` jiffies of all CPUs from ``/proc/stat`` (Linux)."""
    with open("/proc/stat", encoding="ascii") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def free_cpus(
    seconds: float = 0.5,
    read_times: Callable[[], tuple[int, int]] = _read_cpu_times,
    cpus: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int | None:
    """How many CPUs other processes leave free: ``cpus`` minus the CPUs busy over ``seconds``
    (rounded), at least 1. None where ``/proc/stat`` cannot be read (not Linux).

    Torch's threads wait for each other at every parallel region, so a CPU-bound run with as
    many threads as CPUs slows down sharply when another process holds one of them; one thread
    per free CPU avoids that.
    """
    cpus = cpus or os.cpu_count() or 1
    try:
        busy0, total0 = read_times()
        sleep(seconds)
        busy1, total1 = read_times()
    except (OSError, ValueError, IndexError):
        return None
    total = total1 - total0
    if total <= 0:
        return cpus
    busy = cpus * (busy1 - busy0) / total
    return max(1, min(cpus, cpus - round(busy)))
