"""Losses for heatmap regression models, each a function plus a thin ``nn.Module``.

All take raw network outputs ``pred: (B, K, H, W)`` and target heatmaps ``target: (B, K, H, W)``
(as rendered by :func:`otmark.heatmaps.render_gaussian`), an optional per-landmark ``weight:
(B, K)`` (0 for invisible or out-of-map points), and return the mean over the ``B * K`` maps of
``weight * per-map loss``.

====================  ==============================  ======================================
name                  per-map loss                    prediction read as
====================  ==============================  ======================================
``l2``                mean squared error (HRNet)      heatmap values
``wasserstein``       entropic W1 (pixels)            logits (softmax over the map)
``js``                Jensen-Shannon divergence       logits (softmax over the map)
``soft_argmax``       barycenter distance (pixels)    logits (softmax over the map)
====================  ==============================  ======================================

``create_loss(name, **kwargs)`` builds one by name; every module has ``output_is_logits`` telling
whether GET_BC should decode its outputs with a softmax (``output_is_logits(name)`` reads it by
name; the codec of a config takes its ``softmax`` from there).
"""

from otmark.losses.heatmap_l2 import HeatmapL2Loss, heatmap_l2_loss
from otmark.losses.jensen_shannon import JensenShannonLoss, jensen_shannon_loss
from otmark.losses.registry import LOSSES, create_loss, output_is_logits
from otmark.losses.soft_argmax import SoftArgmaxLoss, soft_argmax_loss
from otmark.losses.wasserstein import WassersteinLoss, wasserstein_loss

__all__ = [
    "LOSSES",
    "HeatmapL2Loss",
    "JensenShannonLoss",
    "SoftArgmaxLoss",
    "WassersteinLoss",
    "create_loss",
    "heatmap_l2_loss",
    "jensen_shannon_loss",
    "output_is_logits",
    "soft_argmax_loss",
    "wasserstein_loss",
]
