"""Process-group setup for ``torchrun`` and the few collectives the engine needs.

``torchrun --nproc_per_node N -m otmark train ...`` sets ``RANK``, ``WORLD_SIZE`` and
``LOCAL_RANK``; without them everything runs in one process and the helpers are no-ops.

Device rule: under torchrun (``LOCAL_RANK`` set) the CUDA device index is ``LOCAL_RANK``, so
every process of a node gets its own GPU, whether ``train.device`` is ``auto``, ``cuda`` or
``cuda:N`` (an ``N`` other than ``LOCAL_RANK`` warns and is replaced).

Errors: an exception on one process while the others wait in a collective would block them
until the process group's timeout. :class:`raise_on_any_rank` and :func:`iterate_on_all_ranks`
all-reduce an error flag after a piece of purely local work, so that every process raises.
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist

from otmark.device import resolve_device
from otmark.engine.config_files import ConfigError


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
        device = resolve_device(device_name, local_rank if world > 1 else None)
    except ValueError as exc:
        raise ConfigError(f"train.device: {exc}") from None
    if world > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistInfo(rank, world, local_rank, device)


def shutdown_distributed(abandon: bool = False) -> None:
    """Leave the process group.

    ``abandon=True`` (after an error) leaves it without tearing it down: the peers may have
    failed or still be failing, and destroying a gloo group with work pending aborts the process
    ("terminate called without an active exception") before the error reaches the user; the
    process's exit frees the group.
    """
    if abandon:
        return
    if dist.is_available() and dist.is_initialized():
        # the DDP wrapper of the finished run sits in reference cycles (its reducer's hooks):
        # collect it now, while the group and the interpreter are alive, not at interpreter
        # teardown, where freeing its gloo work aborts the process
        gc.collect()
        # every process leaves together: a gloo group torn down while a peer still has work in
        # flight aborts that peer ("terminate called without an active exception")
        dist.barrier()
        dist.destroy_process_group()


def end_worker(code: int) -> None:
    """End a ``torchrun`` worker process now with ``code`` (a no-op outside ``torchrun``).

    Called by the CLI once a command has finished and its files are written: the interpreter's
    own teardown frees what is left of the process group's C++ threads and can abort the process
    (SIGABRT, "terminate called without an active exception") after a run that succeeded, which
    ``torchrun`` reports as a failure of the whole job.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and "TORCHELASTIC_RUN_ID" in os.environ:
        _exit_now(code)


def _exit_now(code: int) -> None:
    """End the process with ``code`` after flushing its output, skipping interpreter teardown."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def exit_if_group_left(code: int) -> None:
    """End this process now with ``code`` when it still belongs to a process group, i.e. after a
    failure in a multi-process run left the group without teardown
    (:func:`shutdown_distributed` with ``abandon=True``): the interpreter's own teardown would
    destroy the group and can abort the process ("terminate called without an active
    exception") while a peer is still failing. A no-op otherwise."""
    if dist.is_available() and dist.is_initialized():
        _exit_now(code)


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


class RankFailed(RuntimeError):
    """Raised on every other process when ``ranks`` raised inside :class:`raise_on_any_rank`;
    ``messages`` maps each failing rank to ``"ExceptionType: message"``."""

    def __init__(self, where: str, messages: dict[int, str]) -> None:
        self.where = where
        self.ranks = sorted(messages)
        self.messages = dict(messages)
        detail = "; ".join(f"rank {r}: {m}" for r, m in sorted(messages.items()))
        super().__init__(f"{where}: failed on another process ({detail})")


class raise_on_any_rank:  # noqa: N801 (used as a context manager, like a function)
    """Context manager: an exception inside the block on any process is raised on all of them.

    On leaving the block every process all-reduces an error flag (one small all-reduce; nothing
    in one process). The failing process re-raises its own exception, the others raise
    :class:`RankFailed` naming it. The block must run the same collectives on every process
    up to the point where it can fail (a loss, a NaN check), else the flag's all-reduce meets
    another process's collective: put the check after DDP's forward, before its backward.

    Example::

        with raise_on_any_rank(info, f"step {step}"):
            loss = model_and_loss(batch)
            if not torch.isfinite(loss):
                raise FloatingPointError(...)
    """

    def __init__(self, info: DistInfo, where: str = "a training step") -> None:
        self.info = info
        self.where = where

    def __enter__(self) -> raise_on_any_rank:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if not self.info.distributed or (exc is not None and not isinstance(exc, Exception)):
            return False
        failed = any_flag(exc is not None, self.info)
        if not failed:
            return False
        mine = None if exc is None else f"{type(exc).__name__}: {exc}"
        messages = gather_objects(mine, self.info)
        if exc is not None:
            return False  # this process's own exception propagates
        where = f"{self.where} (rank {self.info.rank})"
        raise RankFailed(where, {r: m for r, m in enumerate(messages) if m is not None})


def iterate_on_all_ranks(
    items: Iterable, info: DistInfo, where: str = "loading a batch"
) -> Iterator:
    """``iter(items)`` where an exception raised by ``next`` on one process (a bad sample in a
    data loader) is raised on every process (:class:`raise_on_any_rank` around each ``next``;
    a plain iteration in one process)."""
    if not info.distributed:
        yield from items
        return
    it = iter(items)
    end = object()
    while True:
        with raise_on_any_rank(info, where):
            item = next(it, end)
        if item is end:
            return
        yield item
