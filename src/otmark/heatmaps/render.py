"""Encoding: Gaussian target heatmaps at sub-pixel landmark positions."""

from __future__ import annotations

import torch


def pixel_grid(
    size: tuple[int, int], device=None, dtype: torch.dtype = torch.float32
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel-centre coordinates of an ``(H, W)`` map.

    Returns:
        ``xs: (W,)`` = ``0, 1, ..., W-1`` and ``ys: (H,)`` = ``0, ..., H-1`` (pixel centres at
        integers, see :mod:`otmark.heatmaps`).
    """
    h, w = size
    return (
        torch.arange(w, device=device, dtype=dtype),
        torch.arange(h, device=device, dtype=dtype),
    )


def render_gaussian(
    coords: torch.Tensor,
    size: int | tuple[int, int],
    sigma: float,
    normalize: bool = False,
    truncate: float | None = 3.0,
) -> torch.Tensor:
    """Render one isotropic Gaussian per landmark, centred at its exact sub-pixel position.

    ``value(x, y) = exp(-((x - cx)^2 + (y - cy)^2) / (2 sigma^2))`` at every pixel centre, set to
    exactly 0 farther than ``truncate * sigma`` from the centre (HRNet's targets are cut at
    ``3 sigma``; ``truncate=None`` keeps the full Gaussian). The cut is a disc around the exact
    centre, so it does not bias the barycenter. Centres may lie anywhere, also outside the map:
    the Gaussian is then clipped by the map border (its barycenter moves inwards).

    Args:
        coords: ``(..., 2)`` landmark positions ``(x, y)`` in heatmap pixels, typically
            ``(B, K, 2)``. Non-finite coordinates give an all-zero map.
        size: ``H`` (square) or ``(H, W)``.
        sigma: standard deviation in heatmap pixels (> 0).
        normalize: if True each map sums to 1 (a probability distribution; an all-zero map stays
            zero), otherwise its peak value is 1 at the centre.
        truncate: cut-off radius in units of sigma, or None.

    Returns:
        ``(..., H, W)`` heatmaps, e.g. ``(B, K, H, W)``, dtype of ``coords`` if floating.
    """
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    h, w = (size, size) if isinstance(size, int) else size
    coords = torch.as_tensor(coords)
    if not coords.is_floating_point():
        coords = coords.float()
    if coords.shape[-1] != 2:
        raise ValueError(f"coords must have shape (..., 2), got {tuple(coords.shape)}")
    xs, ys = pixel_grid((h, w), device=coords.device, dtype=coords.dtype)
    finite = torch.isfinite(coords).all(dim=-1)
    c = torch.where(finite[..., None], coords, torch.zeros_like(coords))
    dx2 = (xs - c[..., 0:1]) ** 2  # (..., W)
    dy2 = (ys - c[..., 1:2]) ** 2  # (..., H)
    d2 = dy2[..., :, None] + dx2[..., None, :]  # (..., H, W)
    arg = d2 / (2.0 * sigma * sigma)
    if truncate is not None:
        # pixels past the cut are zeroed below; clamping keeps exp() off its slow far tail
        arg = arg.clamp_max(truncate * truncate / 2.0 + 1.0)
    maps = torch.exp(-arg)
    if truncate is not None:
        maps = torch.where(d2 <= (truncate * sigma) ** 2, maps, torch.zeros_like(maps))
    maps = maps * finite[..., None, None].to(maps.dtype)
    if normalize:
        total = maps.sum(dim=(-2, -1), keepdim=True)
        maps = maps / total.clamp_min(torch.finfo(maps.dtype).tiny)
    return maps


def render_targets(
    points: torch.Tensor, weights: torch.Tensor, heatmap_size: int, sigma: float
) -> torch.Tensor:
    """Gaussian target heatmaps (peak 1) on the device of ``points``; weight-0 maps are zero.

    Args:
        points: ``(B, K, 2)`` heatmap coordinates.
        weights: ``(B, K)``.
        heatmap_size: ``M``.
        sigma: Gaussian standard deviation in heatmap pixels.

    Returns:
        ``(B, K, M, M)`` float32 (via :func:`render_gaussian`).
    """
    maps = render_gaussian(points.float(), (heatmap_size, heatmap_size), sigma)
    return maps * weights.to(maps.dtype)[..., None, None]
