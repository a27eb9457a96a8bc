"""Grid geometry of the 2-D transport problems: multiscale levels, target windows, buckets.

A problem transports a source histogram ``a`` on the full ``(H, W)`` grid to a target histogram
``b`` whose mass lies in a small window (a Gaussian target is compactly supported). Every pair of a
batch gets a window of the same size ``(wy, wx)`` at its own integer origin. Coordinates are pixel
centres at integers (see :mod:`otmark.heatmaps`); distances are Euclidean, in pixels of the finest
level.

Coarser levels pool ``2 x 2`` blocks; a coarse pixel ``i`` has its centre at fine coordinate
``2^l * i + (2^l - 1) / 2``, so distances at level ``l`` are ``2^l`` times grid-index distances.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class Level:
    """One resolution of a batch of problems.

    Attributes:
        grid: ``(ny, nx)`` grid size at this level.
        window: ``(wy, wx)`` target window size (the same for all pairs).
        pixel: pixel size in finest-level pixels (``2^l``).
        origins: ``(P, 2)`` long, window origin ``(oy, ox)`` of each pair, inside the grid.
        log_a: ``(P, ny * nx)`` log of the source histogram (``-inf`` where zero).
        log_b: ``(P, S)`` log of the target histogram at the window pixels ``cols``.
        cols: ``(S,)`` long, the window pixels (flat, row-major) where some target has mass:
            zero-mass pixels get no column in the kernel tables.
    """

    grid: tuple[int, int]
    window: tuple[int, int]
    pixel: float
    origins: torch.Tensor
    log_a: torch.Tensor
    log_b: torch.Tensor
    cols: torch.Tensor

    @property
    def radius(self) -> float:
        """Largest distance from the window centre to a window pixel (finest-level pixels)."""
        wy, wx = self.window
        return self.pixel * 0.5 * math.hypot(wy - 1, wx - 1)

    def mass_radius(self) -> float:
        """Largest distance from the window centre to a window pixel where some target has mass
        (finest-level pixels; reads the data back to the host)."""
        wy, wx = self.window
        ys = torch.div(self.cols, wx, rounding_mode="floor").double() - (wy - 1) / 2.0
        xs = (self.cols % wx).double() - (wx - 1) / 2.0
        return self.pixel * float(torch.sqrt(ys * ys + xs * xs).max())

    def window_centres(self, dtype: torch.dtype) -> torch.Tensor:
        """``(P, 2)`` window centres ``(cy, cx)`` in this level's grid indices."""
        wy, wx = self.window
        half = torch.tensor(
            [(wy - 1) / 2.0, (wx - 1) / 2.0], dtype=dtype, device=self.origins.device
        )
        return self.origins.to(dtype) + half

    def centre_distance(self, dtype: torch.dtype) -> torch.Tensor:
        """``(P, ny * nx)`` distance of every grid pixel to its pair's window centre."""
        ny, nx = self.grid
        c = self.window_centres(dtype)
        ys = torch.arange(ny, dtype=dtype, device=c.device)
        xs = torch.arange(nx, dtype=dtype, device=c.device)
        dy = ys[None, :, None] - c[:, 0, None, None]
        dx = xs[None, None, :] - c[:, 1, None, None]
        return (self.pixel * torch.sqrt(dy * dy + dx * dx)).reshape(c.shape[0], ny * nx)


def log0(x: torch.Tensor) -> torch.Tensor:
    """``log(x)`` with ``-inf`` at 0 and a zero gradient there (autograd through the solver:
    a pixel without mass, such as a pixel of ``(a - b)+`` where ``a < b``, would otherwise
    give ``0 * inf = nan``)."""
    positive = x > 0
    return torch.where(positive, torch.log(torch.where(positive, x, 1.0)), -math.inf)


def target_windows(b: torch.Tensor, threshold: float) -> tuple[tuple[int, int], torch.Tensor]:
    """Smallest common window size holding every target's support, and each window's origin.

    Args:
        b: ``(P, H, W)`` non-negative targets, each summing to 1.
        threshold: pixels with ``b <= threshold * max(b)`` (per pair) count as outside the support.

    Returns:
        ``(wy, wx)`` and ``origins: (P, 2)`` long ``(oy, ox)`` with the window inside the grid.
    """
    p, h, w = b.shape
    peak = b.reshape(p, -1).amax(dim=1)
    support = b > (threshold * peak)[:, None, None]
    rows = support.any(dim=2)  # (P, H)
    cols = support.any(dim=1)  # (P, W)
    ar_h = torch.arange(h, device=b.device)
    ar_w = torch.arange(w, device=b.device)
    y0 = torch.where(rows, ar_h, h).amin(dim=1)
    y1 = torch.where(rows, ar_h, -1).amax(dim=1)
    x0 = torch.where(cols, ar_w, w).amin(dim=1)
    x1 = torch.where(cols, ar_w, -1).amax(dim=1)
    wy = int((y1 - y0).max().item()) + 1
    wx = int((x1 - x0).max().item()) + 1
    # centre each window on its support, then keep it inside the grid
    oy = ((y0 + y1 + 1 - wy) // 2).clamp(0, h - wy)
    ox = ((x0 + x1 + 1 - wx) // 2).clamp(0, w - wx)
    return (wy, wx), torch.stack([oy, ox], dim=1)


def _window_index(width: int, window: tuple[int, int], origins: torch.Tensor) -> torch.Tensor:
    """``(P, wy * wx)``: flat grid index of each window pixel (grid of width ``width``)."""
    wy, wx = window
    sy = torch.arange(wy, device=origins.device)
    sx = torch.arange(wx, device=origins.device)
    idx = (origins[:, 0, None, None] + sy[None, :, None]) * width + origins[:, 1, None, None] + sx
    return idx.reshape(origins.shape[0], wy * wx)


def gather_windows(
    maps: torch.Tensor, window: tuple[int, int], origins: torch.Tensor
) -> torch.Tensor:
    """``maps: (P, H, W)`` -> ``(P, wy * wx)`` the values inside each pair's window."""
    p, h, w = maps.shape
    return maps.reshape(p, h * w).gather(1, _window_index(w, window, origins))


def scatter_windows(
    values: torch.Tensor, grid: tuple[int, int], window: tuple[int, int], origins: torch.Tensor
) -> torch.Tensor:
    """Inverse of :func:`gather_windows`: ``(P, wy * wx)`` -> ``(P, H, W)``, zeros outside."""
    h, w = grid
    out = values.new_zeros(values.shape[0], h * w)
    out.scatter_(1, _window_index(w, window, origins), values)
    return out.reshape(-1, h, w)


def sum_pool(maps: torch.Tensor) -> torch.Tensor:
    """``(P, H, W)`` -> ``(P, ceil(H/2), ceil(W/2))``: sums of ``2 x 2`` blocks (zero padded)."""
    h, w = maps.shape[-2:]
    maps = F.pad(maps, (0, w % 2, 0, h % 2))
    return F.avg_pool2d(maps[:, None], 2)[:, 0] * 4.0


def coarser_windows(
    window: tuple[int, int], origins: torch.Tensor, coarse_grid: tuple[int, int]
) -> tuple[tuple[int, int], torch.Tensor]:
    """Windows covering the pooled image of each fine window on the next coarser grid."""
    wy, wx = window
    lo = torch.div(origins, 2, rounding_mode="floor")
    hi_y = torch.div(origins[:, 0] + wy + 1, 2, rounding_mode="floor")
    hi_x = torch.div(origins[:, 1] + wx + 1, 2, rounding_mode="floor")
    cy = min(int((hi_y - lo[:, 0]).max().item()), coarse_grid[0])
    cx = min(int((hi_x - lo[:, 1]).max().item()), coarse_grid[1])
    oy = lo[:, 0].clamp(max=coarse_grid[0] - cy)
    ox = lo[:, 1].clamp(max=coarse_grid[1] - cx)
    return (cy, cx), torch.stack([oy, ox], dim=1)


def upsample_potential(f: torch.Tensor, coarse_grid: tuple[int, int], fine_grid: tuple[int, int]):
    """Bilinear interpolation of a grid potential ``(P, cy * cx)`` -> ``(P, fy * fx)``.

    With ``align_corners=False`` and a factor of 2, coarse pixel centres land on fine coordinate
    ``2 i + 0.5``, matching the pooling geometry.
    """
    p = f.shape[0]
    up = F.interpolate(
        f.reshape(p, 1, *coarse_grid), scale_factor=2, mode="bilinear", align_corners=False
    )
    return up[:, 0, : fine_grid[0], : fine_grid[1]].reshape(p, fine_grid[0] * fine_grid[1])


def build_levels(
    a: torch.Tensor,
    b: torch.Tensor,
    window: tuple[int, int],
    origins: torch.Tensor,
    min_size: int,
    prune: bool = True,
) -> list[Level]:
    """The multiscale pyramid, finest first, coarsening while the grid side exceeds ``min_size``.

    Args:
        a: ``(P, H, W)`` source histograms (sum 1). b: ``(P, H, W)`` targets (sum 1, zero
        outside their windows). prune: drop the window pixels where no target has mass.
    """
    levels: list[Level] = []
    pixel = 1.0
    while True:
        p, h, w = a.shape
        log_a = log0(a.reshape(p, h * w))
        log_b = log0(gather_windows(b, window, origins))
        if prune:
            cols = torch.nonzero(torch.isfinite(log_b).any(dim=0)).flatten()
            log_b = log_b[:, cols]
        else:
            cols = torch.arange(log_b.shape[1], device=log_b.device)
        levels.append(Level((h, w), window, pixel, origins, log_a, log_b, cols))
        if max(h, w) <= min_size:
            return levels
        coarse_grid = ((h + 1) // 2, (w + 1) // 2)
        window, origins = coarser_windows(window, origins, coarse_grid)
        a, b = sum_pool(a), sum_pool(b)
        pixel *= 2.0
