"""Count the operators and host synchronisations a piece of code dispatches.

A stand-in for a GPU profile that runs on any device: on a GPU every operator is a kernel
launch and every synchronisation stalls the stream. Used by the tests and by
``benchmarks/loss.py``.

    with DispatchCounter() as c:
        loss(pred, target).backward()
    c.ops, c.syncs, c.matmul_flops
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


def _matmul_flops(name: str, args) -> int:
    """Floating-point operations (2 per multiply-add) of a matrix product operator."""
    if name in ("mm", "bmm"):
        a, b = args[0], args[1]
    elif name in ("addmm", "baddbmm"):
        a, b = args[1], args[2]
    else:
        return 0
    batch = a.shape[0] if a.dim() == 3 else 1
    return 2 * batch * a.shape[-2] * a.shape[-1] * b.shape[-1]


class DispatchCounter(TorchDispatchMode):
    """Counts every ATen operator dispatched inside the ``with`` block (forward and backward).

    Attributes:
        ops: number of operators. syncs: number of host synchronisations (:data:`SYNC_OPS`).
        by_name: ``Counter`` of operator names. matmul_flops: floating-point operations of the
        matrix products (``mm``, ``bmm``, ``addmm``, ``baddbmm``; 2 per multiply-add).
    """

    def __init__(self) -> None:
        super().__init__()
        self.by_name: Counter[str] = Counter()
        self.matmul_flops = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func._overloadpacket.__name__
        self.by_name[name] += 1
        self.matmul_flops += _matmul_flops(name, args)
        return func(*args, **(kwargs or {}))

    @property
    def ops(self) -> int:
        return sum(self.by_name.values())

    @property
    def syncs(self) -> int:
        return sum(self.by_name[name] for name in SYNC_OPS)
