"""The paper's 2-D Wasserstein loss: entropic W1 between softmax(prediction) and the target."""

from __future__ import annotations

import torch
from torch import nn

from otmark.losses._reduce import check_shapes, weighted_mean
from otmark.ot import KernelCache, SinkhornOptions, wasserstein2d

#: default entropic regularisation, in heatmap pixels (see docs/wasserstein_loss.md)
DEFAULT_EPS = 0.25


def wasserstein_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None = None,
    eps: float = DEFAULT_EPS,
    value: str = "cost",
    grad: str = "implicit",
    options: SinkhornOptions | None = None,
    cache: KernelCache | None = None,
) -> torch.Tensor:
    """Mean over maps of ``W_eps(softmax(pred), target / sum(target))``, in heatmap pixels.

    Maps whose target has no mass (a landmark outside the heatmap) or whose weight is 0 are not
    solved and contribute 0 (the mean is still over all ``B * K`` maps, like the other losses).

    Args:
        pred: ``(B, K, H, W)`` logits. target: ``(B, K, H, W)`` non-negative targets.
        weight: optional ``(B, K)``.
        eps, value, grad, options, cache: see :func:`otmark.ot.wasserstein2d`.
    """
    check_shapes(pred, target, weight)
    b, k, h, w = pred.shape
    logits = pred.reshape(b * k, h, w)
    tgt = target.reshape(b * k, h, w).to(pred.dtype).clamp_min(0)
    valid = tgt.sum(dim=(-2, -1)) > 0
    if weight is not None:
        valid &= weight.reshape(-1) > 0
    per_map = pred.new_zeros(b * k)
    if bool(valid.any()):
        idx = torch.nonzero(valid).flatten()
        prob = torch.softmax(logits[idx].flatten(-2), dim=-1).reshape(-1, h, w)
        dist = wasserstein2d(prob, tgt[idx], eps, value, grad, options, cache)
        per_map = per_map.index_put((idx,), dist)
    return weighted_mean(per_map.reshape(b, k), weight)


class WassersteinLoss(nn.Module):
    """Module form of :func:`wasserstein_loss`; owns a kernel cache reused across steps.

    Args:
        eps: entropic regularisation in heatmap pixels.
        value: ``"cost"`` (transport cost, default) or ``"entropic"``.
        grad: ``"implicit"`` (dual potentials, default) or ``"unrolled"``.
        **solver: further :class:`otmark.ot.SinkhornOptions` fields (``tol``, ``max_iter`` ...).
    """

    output_is_logits = True

    def __init__(
        self, eps: float = DEFAULT_EPS, value: str = "cost", grad: str = "implicit", **solver
    ) -> None:
        super().__init__()
        self.eps, self.value, self.grad = eps, value, grad
        self.options = SinkhornOptions(eps=eps, **solver)
        self.cache = KernelCache()

    def forward(self, pred, target, weight=None):
        return wasserstein_loss(
            pred, target, weight, self.eps, self.value, self.grad, self.options, self.cache
        )

    def extra_repr(self) -> str:
        return f"eps={self.eps}, value={self.value!r}, grad={self.grad!r}"
