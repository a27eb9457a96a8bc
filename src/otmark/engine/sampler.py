"""A resumable, distributed epoch sampler.

The order of epoch ``e`` is ``torch.randperm(n)`` from a generator seeded with ``seed + e``,
padded (by repeating its head) to a multiple of the number of processes; process ``rank`` takes
every ``world``-th index from position ``rank`` (as :class:`torch.utils.data.DistributedSampler`
does). With one process and ``world = 2`` the union of the two ranks' ``i``-th local batches of
size ``B / 2`` is the single process's ``i``-th batch of size ``B``: the same global batches.
``start`` skips the first local items (resuming inside an epoch).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch


def epoch_order(n: int, seed: int, epoch: int, shuffle: bool = True) -> list[int]:
    """The global order of epoch ``epoch``: ``(n,)`` indices."""
    if not shuffle:
        return list(range(n))
    g = torch.Generator()
    g.manual_seed(int(seed) + int(epoch))
    return torch.randperm(n, generator=g).tolist()


def rank_indices(
    n: int, seed: int, epoch: int, rank: int = 0, world: int = 1, shuffle: bool = True
) -> list[int]:
    """Indices of one process for one epoch (padded so that every rank gets the same count)."""
    order = epoch_order(n, seed, epoch, shuffle)
    total = -(-n // world) * world
    if n and total > n:
        order = order + (order * (total // n + 1))[: total - n]
    return order[rank:total:world]


class EpochSampler(torch.utils.data.Sampler[int]):
    """Sampler over ``range(n)`` following :func:`rank_indices`; call :meth:`set_epoch`.

    Args:
        n: dataset length.
        seed: base seed of the shuffling.
        rank, world: this process and the number of processes.
        shuffle: False for evaluation (then no padding either: ranks get ``range(rank, n, world)``).
    """

    def __init__(
        self, n: int, seed: int = 0, rank: int = 0, world: int = 1, shuffle: bool = True
    ) -> None:
        if not 0 <= rank < world:
            raise ValueError(f"rank {rank} outside [0, {world})")
        self.n, self.seed, self.rank, self.world, self.shuffle = n, seed, rank, world, shuffle
        self.epoch = 0
        self.start = 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Select epoch ``epoch`` and skip its first ``start`` local items."""
        self.epoch, self.start = int(epoch), int(start)

    def indices(self) -> list[int]:
        if not self.shuffle:
            return list(range(self.rank, self.n, self.world))[self.start :]
        return rank_indices(self.n, self.seed, self.epoch, self.rank, self.world)[self.start :]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices())

    def __len__(self) -> int:
        return len(self.indices())
