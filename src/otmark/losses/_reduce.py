"""The reduction shared by every loss: weighted mean over the ``B * K`` maps."""

from __future__ import annotations

import torch


def check_shapes(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None) -> None:
    if pred.dim() != 4 or pred.shape != target.shape:
        raise ValueError(
            f"pred and target must both be (B, K, H, W); got {tuple(pred.shape)} and "
            f"{tuple(target.shape)}"
        )
    if weight is not None and tuple(weight.shape) != tuple(pred.shape[:2]):
        raise ValueError(
            f"weight must be (B, K) = {tuple(pred.shape[:2])}, got {tuple(weight.shape)}"
        )


def weighted_mean(per_map: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    """``per_map: (B, K)`` -> scalar ``mean(weight * per_map)`` over all ``B * K`` maps."""
    if weight is None:
        return per_map.mean()
    return (per_map * weight.to(per_map.dtype)).mean()
