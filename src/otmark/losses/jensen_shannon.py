"""Jensen-Shannon divergence between the softmax of the prediction and the normalised target."""

from __future__ import annotations

import math

import torch
from torch import nn

from otmark.losses._reduce import check_shapes, check_values, weighted_mean


def _normalised_target(target: torch.Tensor) -> torch.Tensor:
    flat = target.flatten(-2).clamp_min(0)
    return flat / flat.sum(dim=-1, keepdim=True).clamp_min(torch.finfo(flat.dtype).tiny)


def jensen_shannon_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None = None,
    check_inputs: bool = True,
) -> torch.Tensor:
    """``JS(p, q) = KL(p | m)/2 + KL(q | m)/2`` with ``m = (p + q)/2``, in nats (<= log 2).

    ``p = softmax(pred)`` over each map's pixels, ``q`` = target normalised to sum 1. Computed
    from log-probabilities, with ``0 log 0 = 0``: finite for any logits.

    Args:
        pred: ``(B, K, H, W)`` logits. target: ``(B, K, H, W)`` non-negative. weight: ``(B, K)``.
        check_inputs: raise ``ValueError`` naming the map ``(b, k)`` if ``pred`` or ``target``
            holds NaN/inf or ``target`` is negative (one host synchronisation).
    """
    check_shapes(pred, target, weight)
    if check_inputs:
        check_values("js", pred, target)
    log_p = torch.log_softmax(pred.flatten(-2), dim=-1)
    q = _normalised_target(target.to(pred.dtype))
    p = log_p.exp()
    log_q = torch.log(q.clamp_min(torch.finfo(q.dtype).tiny))
    log_m = torch.logaddexp(log_p, log_q) - math.log(2.0)
    kl_p = (p * (log_p - log_m)).sum(dim=-1)
    kl_q = torch.where(q > 0, q * (log_q - log_m), torch.zeros_like(q)).sum(dim=-1)
    return weighted_mean(0.5 * (kl_p + kl_q), weight)


class JensenShannonLoss(nn.Module):
    """Module form of :func:`jensen_shannon_loss`."""

    output_is_logits = True

    def __init__(self, check_inputs: bool = True) -> None:
        super().__init__()
        self.check_inputs = check_inputs

    def forward(self, pred, target, weight=None):
        return jensen_shannon_loss(pred, target, weight, self.check_inputs)
