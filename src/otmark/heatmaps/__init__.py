"""Heatmap codecs: encode landmark coordinates as target heatmaps, decode heatmaps to coordinates.

Pixel-centre convention (used everywhere in otmark): heatmap pixel ``(row i, column j)`` has its
centre at coordinate ``(x, y) = (j, i)``; the map covers ``[-0.5, W - 0.5] x [-0.5, H - 0.5]``.
Coordinates are ``(x, y)`` pairs in heatmap pixels, float, never rounded.
:class:`HeatmapCodec` ties heatmaps to crop coordinates (encode and decode in one object).
"""

from otmark.heatmaps.codec import (
    LEGACY_METADATA,
    HeatmapCodec,
    crop_to_heatmap_matrix,
    heatmap_to_crop_matrix,
    landmark_weights,
)
from otmark.heatmaps.decode import DECODERS, decode, decode_barycenter, decode_max, get_decoder
from otmark.heatmaps.render import pixel_grid, render_gaussian, render_targets

__all__ = [
    "DECODERS",
    "LEGACY_METADATA",
    "HeatmapCodec",
    "crop_to_heatmap_matrix",
    "decode",
    "decode_barycenter",
    "decode_max",
    "get_decoder",
    "heatmap_to_crop_matrix",
    "landmark_weights",
    "pixel_grid",
    "render_gaussian",
    "render_targets",
]
