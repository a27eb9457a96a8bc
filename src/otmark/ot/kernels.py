"""Shared, shifted Gibbs kernels on a canvas of relative positions, and a cache for them.

For a window of size ``(wy, wx)`` with centre ``c`` (relative to the window origin), and any grid
pixel at relative position ``t = x - origin``, the *shifted kernel* is

    Khat[t, s] = exp((|t - c| - |t - s|) / eps)        (distances in finest-level pixels)

i.e. the Gibbs kernel ``exp(-|x - y| / eps)`` with the row factor ``exp(-|x - c| / eps)`` taken
out. By the triangle inequality ``| |t - c| - |t - s| | <= |s - c| <= r`` (the window radius), so
every entry lies in ``[exp(-r/eps), exp(r/eps)]``: no underflow however far the grid pixel is
from the window, which is what makes small ``eps`` possible in float32. The row factor is carried
by the potentials in log form (see :mod:`otmark.ot.sinkhorn`).

The table only depends on relative positions, so ONE table per (level, window, eps) serves the
whole batch: all pairs share it through matrix products, never one cost matrix per pair.
The canvas covers every relative position a pair can produce: rows ``t_y`` in
``[-(ny - wy), ny - 1]`` and columns ``t_x`` in ``[-(nx - wx), nx - 1]``.
"""

from __future__ import annotations

from collections import OrderedDict

import torch


def canvas_tables(
    grid: tuple[int, int],
    window: tuple[int, int],
    pixel: float,
    eps: float,
    dtype: torch.dtype,
    device: torch.device | str = "cpu",
    kind: str = "kernel",
    block: tuple[int, int, int, int] | None = None,
    scale: float = 0.0,
) -> torch.Tensor:
    """One shared table over the canvas, ``(Ty * Tx, wy * wx)``, or over the canvas rows
    ``y0:y1`` and columns ``x0:x1`` only when ``block = (y0, y1, x0, x1)`` is given. The
    ``"kernel"`` and ``"cost_kernel"`` tables are multiplied by ``exp(-scale)``.

    ``kind``: ``"kernel"`` -> ``Khat``; ``"cost_kernel"`` -> ``Khat * C`` (entrywise, for the
    transport cost ``<P, C>``); ``"log_kernel"`` -> ``log Khat = (|t - c| - |t - s|) / eps``
    (for the log-domain path).
    """
    (ny, nx), (wy, wx) = grid, window
    ty = torch.arange(-(ny - wy), ny, dtype=torch.float64, device=device)
    tx = torch.arange(-(nx - wx), nx, dtype=torch.float64, device=device)
    if block is not None:
        ty, tx = ty[block[0] : block[1]], tx[block[2] : block[3]]
    sy = torch.arange(wy, dtype=torch.float64, device=device)
    sx = torch.arange(wx, dtype=torch.float64, device=device)
    cy, cx = (wy - 1) / 2.0, (wx - 1) / 2.0
    d_centre = torch.sqrt((ty[:, None] - cy) ** 2 + (tx[None, :] - cx) ** 2) * pixel  # (Ty, Tx)
    dy2 = (ty[:, None] - sy[None, :]) ** 2  # (Ty, wy)
    dx2 = (tx[:, None] - sx[None, :]) ** 2  # (Tx, wx)
    dist = torch.sqrt(dy2[:, None, :, None] + dx2[None, :, None, :]) * pixel  # (Ty, Tx, wy, wx)
    log_k = (d_centre[:, :, None, None] - dist) / eps
    if kind == "log_kernel":
        out = log_k
    elif kind == "kernel":
        out = torch.exp(log_k - scale)
    elif kind == "cost_kernel":
        out = torch.exp(log_k - scale) * dist
    else:
        raise ValueError(f"unknown table kind {kind!r}")
    return out.reshape(len(ty) * len(tx), wy * wx).to(dtype)


def _nbytes(entry) -> int:
    """Bytes of a cached tensor, or of a dict of tensors (index tables)."""
    if isinstance(entry, dict):
        return sum(_nbytes(t) for t in entry.values())
    return entry.numel() * entry.element_size()


class KernelCache:
    """A small LRU cache of canvas tables, keyed by geometry, ``eps``, dtype, device and kind.

    Training calls the loss with the same geometry at every step, so the tables are built once.
    Pass one cache to repeated :func:`otmark.ot.wasserstein2d` calls (the
    :class:`otmark.losses.WassersteinLoss` module owns one).
    """

    def __init__(self, max_bytes: int = 512 * 2**20) -> None:
        self.max_bytes = max_bytes
        self._tables: OrderedDict[tuple, torch.Tensor] = OrderedDict()

    @property
    def nbytes(self) -> int:
        return sum(_nbytes(t) for t in self._tables.values())

    def __len__(self) -> int:
        return len(self._tables)

    def lookup(self, key: tuple, build) -> torch.Tensor:
        """The table stored under ``key``, built by ``build()`` on a miss (LRU, size-bounded)."""
        table = self._tables.get(key)
        if table is None:
            table = build()
            self._tables[key] = table
            while len(self._tables) > 1 and self.nbytes > self.max_bytes:
                self._tables.popitem(last=False)
        else:
            self._tables.move_to_end(key)
        return table

    def get(
        self,
        grid: tuple[int, int],
        window: tuple[int, int],
        pixel: float,
        eps: float,
        dtype: torch.dtype,
        device: torch.device | str,
        kind: str = "kernel",
        block: tuple[int, int, int, int] | None = None,
    ) -> torch.Tensor:
        """The table of :func:`canvas_tables` (restricted to ``block`` when given)."""
        key = (grid, window, float(pixel), float(eps), dtype, str(device), kind, block)
        return self.lookup(
            key, lambda: canvas_tables(grid, window, pixel, eps, dtype, device, kind, block)
        )
