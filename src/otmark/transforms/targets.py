"""Training targets: Gaussian heatmaps and per-landmark weights from crop coordinates."""

from __future__ import annotations

import numpy as np
import torch

from otmark.transforms.crop import apply_affine, crop_to_heatmap_matrix


def landmark_weights(heatmap_points, heatmap_size: int | tuple[int, int]) -> np.ndarray:
    """Per-landmark loss weights: 1 inside the heatmap, 0 outside it or when NaN.

    Args:
        heatmap_points: ``(..., K, 2)`` in heatmap pixels (the map covers
            ``[-0.5, W - 0.5] x [-0.5, H - 0.5]``).
        heatmap_size: ``M`` or ``(H, W)``.

    Returns:
        ``(..., K)`` float32.
    """
    h, w = (heatmap_size, heatmap_size) if isinstance(heatmap_size, int) else heatmap_size
    p = np.asarray(heatmap_points, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        inside = (
            np.isfinite(p).all(axis=-1)
            & (p[..., 0] >= -0.5)
            & (p[..., 0] <= w - 0.5)
            & (p[..., 1] >= -0.5)
            & (p[..., 1] <= h - 0.5)
        )
    return inside.astype(np.float32)


def make_targets(
    crop_points, input_size: int, heatmap_size: int, sigma: float
) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """Target heatmaps and weights for landmarks given in crop coordinates.

    Args:
        crop_points: ``(K, 2)`` crop pixel coordinates (NaN = not annotated).
        input_size: crop side ``N``.
        heatmap_size: heatmap side ``M`` (stride ``N / M``).
        sigma: Gaussian standard deviation in heatmap pixels.

    Returns:
        ``heatmaps: (K, M, M)`` float32 (peak 1, via :func:`otmark.heatmaps.render_gaussian`),
        ``weights: (K,)`` float32 and the heatmap coordinates ``(K, 2)`` float64.
    """
    from otmark.heatmaps import render_gaussian

    hm_points = apply_affine(crop_points, crop_to_heatmap_matrix(input_size, heatmap_size))
    weights = landmark_weights(hm_points, heatmap_size)
    coords = torch.from_numpy(hm_points).to(torch.float32)[None]
    maps = render_gaussian(coords, (heatmap_size, heatmap_size), sigma)[0]
    maps = maps * torch.from_numpy(weights)[:, None, None]
    return maps, torch.from_numpy(weights), hm_points
