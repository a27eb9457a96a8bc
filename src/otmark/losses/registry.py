"""``create_loss(name, **kwargs)``: the losses by name."""

from __future__ import annotations

from torch import nn

from otmark.losses.heatmap_l2 import HeatmapL2Loss
from otmark.losses.jensen_shannon import JensenShannonLoss
from otmark.losses.soft_argmax import SoftArgmaxLoss
from otmark.losses.wasserstein import WassersteinLoss
from otmark.registry import lookup

LOSSES: dict[str, type[nn.Module]] = {
    "l2": HeatmapL2Loss,
    "wasserstein": WassersteinLoss,
    "js": JensenShannonLoss,
    "soft_argmax": SoftArgmaxLoss,
}


def create_loss(name: str, **kwargs) -> nn.Module:
    """Build a loss module by name (``l2``, ``wasserstein``, ``js``, ``soft_argmax``).

    Raises :class:`otmark.registry.UnknownNameError` (a ``KeyError`` and a ``ValueError``)
    for an unknown name.
    """
    return lookup(LOSSES, name, "loss")(**kwargs)


def output_is_logits(name: str) -> bool:
    """Whether models trained with loss ``name`` output logits (decoded through a softmax):
    the class attribute ``output_is_logits`` of the loss, read without building it."""
    return bool(lookup(LOSSES, name, "loss").output_is_logits)
