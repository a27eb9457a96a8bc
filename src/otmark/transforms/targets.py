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


def heatmap_points(
    crop_points, input_size: int, heatmap_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Crop coordinates -> heatmap coordinates ``(K, 2)`` float64 and weights ``(K,)`` float32."""
    hm_points = apply_affine(crop_points, crop_to_heatmap_matrix(input_size, heatmap_size))
    return hm_points, landmark_weights(hm_points, heatmap_size)


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
        ``(B, K, M, M)`` float32 (via :func:`otmark.heatmaps.render_gaussian`).
    """
    from otmark.heatmaps import render_gaussian

    maps = render_gaussian(points.float(), (heatmap_size, heatmap_size), sigma)
    return maps * weights.to(maps.dtype)[..., None, None]


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
    hm_points, weights = heatmap_points(crop_points, input_size, heatmap_size)
    w = torch.from_numpy(weights)
    maps = render_targets(torch.from_numpy(hm_points)[None], w[None], heatmap_size, sigma)[0]
    return maps, w, hm_points
