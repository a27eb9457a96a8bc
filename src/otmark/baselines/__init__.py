"""Non-learned baselines (the bar a trained model must beat)."""

from otmark.baselines.mean_shape import (
    BOX_SOURCES,
    MeanShape,
    from_box_frame,
    sample_boxes,
    tight_boxes,
    to_box_frame,
)

__all__ = [
    "BOX_SOURCES",
    "MeanShape",
    "from_box_frame",
    "sample_boxes",
    "tight_boxes",
    "to_box_frame",
]
