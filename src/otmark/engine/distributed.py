"""Process-group setup for ``torchrun`` and the few collectives the engine needs.

``torchrun --nproc_per_node N -m otmark train ...`` sets ``RANK``, ``WORLD_SIZE`` and
``LOCAL_RANK``; without them everything runs in one process and the helpers are no-ops.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from otmark.device import resolve_device


@dataclass(frozen=True)
class DistInfo:
    """``rank``/``world`` of this process, ``local_rank`` on its node, and the device to use."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1


def init_distributed(device_name: str = "auto") -> DistInfo:
    """Join the ``torchrun`` process group (nccl on GPU, gloo on CPU) when launched by it."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    try:
        device = resolve_device(device_name, local_rank)
    except ValueError as exc:
        from otmark.engine.config import ConfigError

        raise ConfigError(f"train.device: {exc}") from None
    if world > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistInfo(rank, world, local_rank, device)


def shutdown_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(values: list[float], info: DistInfo) -> list[float]:
    """Sum a few floats over all processes (identity in one process)."""
    if not info.distributed:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=info.device)
    dist.all_reduce(t)
    return t.tolist()


def any_flag(flag: bool, info: DistInfo) -> bool:
    """True if ``flag`` is set on any process."""
    return bool(all_reduce_sum([float(flag)], info)[0] > 0) if info.distributed else flag


def gather_objects(obj, info: DistInfo) -> list:
    """Every process's ``obj`` (a list ordered by rank; ``[obj]`` in one process)."""
    if not info.distributed:
        return [obj]
    out: list = [None] * info.world
    dist.all_gather_object(out, obj)
    return out


def barrier(info: DistInfo) -> None:
    if info.distributed:
        dist.barrier()
