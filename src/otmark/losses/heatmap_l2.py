"""Heatmap L2 loss: HRNet's mean squared error between predicted and target heatmaps."""

from __future__ import annotations

import torch
from torch import nn

from otmark.losses._reduce import check_shapes, check_values, weighted_mean


def heatmap_l2_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None = None,
    check_inputs: bool = True,
) -> torch.Tensor:
    """Mean squared error per map, then the weighted mean over maps.

    Args:
        pred: ``(B, K, H, W)`` predicted heatmaps. target: ``(B, K, H, W)`` targets (peak 1).
        weight: optional ``(B, K)``.
        check_inputs: raise ``ValueError`` naming the map ``(b, k)`` if ``pred`` or ``target``
            holds NaN/inf (one host synchronisation). Any real target value is accepted.

    With ``weight=None`` this equals ``torch.nn.functional.mse_loss(pred, target)``.
    """
    check_shapes(pred, target, weight)
    if check_inputs:
        check_values("l2", pred, target, negative_target=False)
    per_map = ((pred - target.to(pred.dtype)) ** 2).mean(dim=(-2, -1))
    return weighted_mean(per_map, weight)


class HeatmapL2Loss(nn.Module):
    """Module form of :func:`heatmap_l2_loss`."""

    output_is_logits = False

    def __init__(self, check_inputs: bool = True) -> None:
        super().__init__()
        self.check_inputs = check_inputs

    def forward(self, pred, target, weight=None):
        return heatmap_l2_loss(pred, target, weight, self.check_inputs)
