"""Count the operators and host synchronisations a piece of code dispatches.

A stand-in for a GPU profile that runs on any device: on a GPU every operator is a kernel
launch and every synchronisation stalls the stream. Used by the tests and by
``benchmarks/loss.py``.

    with DispatchCounter() as c:
        loss(pred, target).backward()
    c.ops, c.syncs
"""

from __future__ import annotations

from collections import Counter

from torch.utils._python_dispatch import TorchDispatchMode

#: operators that read device data back to the host (or size outputs from the data)
SYNC_OPS = (
    "_local_scalar_dense",
    "item",
    "nonzero",
    "unique",
    "_unique",
    "_unique2",
    "unique_consecutive",
    "unique_dim",
    "masked_select",
    "is_nonzero",
    "equal",
)


class DispatchCounter(TorchDispatchMode):
    """Counts every ATen operator dispatched inside the ``with`` block (forward and backward).

    Attributes:
        ops: number of operators. syncs: number of host synchronisations (:data:`SYNC_OPS`).
        by_name: ``Counter`` of operator names.
    """

    def __init__(self) -> None:
        super().__init__()
        self.by_name: Counter[str] = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.by_name[func._overloadpacket.__name__] += 1
        return func(*args, **(kwargs or {}))

    @property
    def ops(self) -> int:
        return sum(self.by_name.values())

    @property
    def syncs(self) -> int:
        return sum(self.by_name[name] for name in SYNC_OPS)
