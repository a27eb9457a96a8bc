"""Heatmap regression models: HRNetV2-W18, Stacked Hourglass, SimpleBaselines, CPN.

Every model maps ImageNet-normalised images ``(B, 3, H, W)`` to heatmap logits
``(B, K, H/4, W/4)``. Hourglass and CPN return a list of such tensors in training mode
(intermediate supervision, last = final); use :func:`as_stack_list` to treat all models alike.
``coordconv=True`` turns every convolution into a CoordConv (:mod:`otmark.models.coordconv`).
"""

from otmark.models.checkpoint import load_model_from_checkpoint, read_checkpoint
from otmark.models.coordconv import (
    CoordConv2d,
    CoordConvTranspose2d,
    convert_to_coordconv,
    count_coordconv_layers,
)
from otmark.models.outputs import as_stack_list, final_output
from otmark.models.registry import (
    MODELS,
    count_parameters,
    create_model,
    list_models,
    tiny_kwargs,
)

__all__ = [
    "MODELS",
    "CoordConv2d",
    "CoordConvTranspose2d",
    "as_stack_list",
    "convert_to_coordconv",
    "count_coordconv_layers",
    "count_parameters",
    "create_model",
    "final_output",
    "list_models",
    "load_model_from_checkpoint",
    "read_checkpoint",
    "tiny_kwargs",
]
