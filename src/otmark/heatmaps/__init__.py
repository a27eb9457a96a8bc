"""Heatmap codecs: encode landmark coordinates as target heatmaps, decode heatmaps to coordinates.

Pixel-centre convention (used everywhere in otmark): heatmap pixel ``(row i, column j)`` has its
centre at coordinate ``(x, y) = (j, i)``; the map covers ``[-0.5, W - 0.5] x [-0.5, H - 0.5]``.
Coordinates are ``(x, y)`` pairs in heatmap pixels, float, never rounded.
"""

from otmark.heatmaps.decode import DECODERS, decode, decode_barycenter, decode_max
from otmark.heatmaps.render import pixel_grid, render_gaussian

__all__ = [
    "DECODERS",
    "decode",
    "decode_barycenter",
    "decode_max",
    "pixel_grid",
    "render_gaussian",
]
