"""Soft-ArgMax (integral regression, Sun et al. 2018): a loss on decoded coordinates."""

from __future__ import annotations

import torch
from torch import nn

from otmark.heatmaps import decode_barycenter
from otmark.losses._reduce import check_shapes, check_values, weighted_mean

NORMS = ("l2", "l1")


def soft_argmax_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None = None,
    norm: str = "l2",
    check_inputs: bool = True,
) -> torch.Tensor:
    """Distance in heatmap pixels between the barycenter of ``softmax(pred)`` and the target's
    centre (the barycenter of the normalised target, which is the rendered centre for a Gaussian
    away from the border).

    Args:
        pred: ``(B, K, H, W)`` logits. target: ``(B, K, H, W)``. weight: ``(B, K)``.
        norm: ``"l2"`` (Euclidean distance; smoothed by 1e-12 under the square root so that the
            gradient at 0 is 0) or ``"l1"`` (sum of absolute coordinate errors, Sun et al.).
        check_inputs: raise ``ValueError`` naming the map ``(b, k)`` if ``pred`` or ``target``
            holds NaN/inf or ``target`` is negative (one host synchronisation).
    """
    check_shapes(pred, target, weight)
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    if check_inputs:
        check_values("soft_argmax", pred, target)
    xy = decode_barycenter(pred, softmax=True)
    centre = decode_barycenter(target.to(pred.dtype), softmax=False).detach()
    diff = xy - centre
    if norm == "l2":
        per_map = torch.sqrt((diff * diff).sum(dim=-1) + 1e-12)
    else:
        per_map = diff.abs().sum(dim=-1)
    return weighted_mean(per_map, weight)


class SoftArgmaxLoss(nn.Module):
    """Module form of :func:`soft_argmax_loss`."""

    output_is_logits = True

    def __init__(self, norm: str = "l2", check_inputs: bool = True) -> None:
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
        self.norm, self.check_inputs = norm, check_inputs

    def forward(self, pred, target, weight=None):
        return soft_argmax_loss(pred, target, weight, self.norm, self.check_inputs)
