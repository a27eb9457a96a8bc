"""Training targets from crop coordinates: thin wrappers over :class:`otmark.heatmaps.HeatmapCodec`
(kept for callers that have sizes rather than a codec)."""

from __future__ import annotations

import numpy as np
import torch

from otmark.heatmaps.codec import HeatmapCodec, landmark_weights
from otmark.heatmaps.render import render_targets

__all__ = ["heatmap_points", "landmark_weights", "make_targets", "render_targets"]


def heatmap_points(
    crop_points, input_size: int, heatmap_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Crop coordinates -> heatmap coordinates ``(K, 2)`` float64 and weights ``(K,)`` float32
    (:meth:`HeatmapCodec.encode_points`)."""
    return HeatmapCodec(input_size, heatmap_size).encode_points(crop_points)


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
    codec = HeatmapCodec(input_size, heatmap_size, sigma)
    hm_points, weights = codec.encode_points(crop_points)
    w = torch.from_numpy(weights)
    maps = codec.render(torch.from_numpy(hm_points)[None], w[None])[0]
    return maps, w, hm_points
