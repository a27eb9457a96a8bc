"""``create_loss(name, **kwargs)``: the losses by name."""

from __future__ import annotations

from torch import nn

from otmark.losses.heatmap_l2 import HeatmapL2Loss
from otmark.losses.jensen_shannon import JensenShannonLoss
from otmark.losses.soft_argmax import SoftArgmaxLoss
from otmark.losses.wasserstein import WassersteinLoss

LOSSES: dict[str, type[nn.Module]] = {
    "l2": HeatmapL2Loss,
    "wasserstein": WassersteinLoss,
    "js": JensenShannonLoss,
    "soft_argmax": SoftArgmaxLoss,
}


def create_loss(name: str, **kwargs) -> nn.Module:
    """Build a loss module by name (``l2``, ``wasserstein``, ``js``, ``soft_argmax``)."""
    try:
        cls = LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; valid: {sorted(LOSSES)}") from None
    return cls(**kwargs)
