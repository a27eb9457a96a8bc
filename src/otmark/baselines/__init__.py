"""Non-learned baselines (the bar a trained model must beat)."""

from otmark.baselines.mean_shape import MeanShape, from_box_frame, tight_boxes, to_box_frame

__all__ = ["MeanShape", "from_box_frame", "tight_boxes", "to_box_frame"]
