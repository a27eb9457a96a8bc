"""The reduction shared by every loss: weighted mean over the ``B * K`` maps."""

from __future__ import annotations

import torch

from otmark.ot import host_flags


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


_PROBLEMS = {
    "pred_nonfinite": ("pred", "contains NaN or inf"),
    "target_nonfinite": ("target", "contains NaN or inf"),
    "target_negative": ("target", "has negative values"),
}


def bad_maps(kind: str, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``(B, K)`` bool: the maps with the problem ``kind`` (a key of the checks)."""
    if kind == "pred_nonfinite":
        return ~torch.isfinite(pred).flatten(-2).all(dim=-1)
    if kind == "target_nonfinite":
        return ~torch.isfinite(target).flatten(-2).all(dim=-1)
    return (target < 0).flatten(-2).any(dim=-1)


def check_values(
    loss: str,
    pred: torch.Tensor,
    target: torch.Tensor,
    negative_target: bool = True,
    skip_nonfinite_target: bool = False,
) -> bool:
    """Raise ``ValueError`` if ``pred``/``target`` ``(B, K, H, W)`` hold NaN/inf (or, with
    ``negative_target``, if ``target`` has negative values), naming the loss, the argument and
    the first bad map ``(b, k)``. All checks share one host synchronisation.

    With ``skip_nonfinite_target`` a non-finite target is not an error: the return value then
    tells whether some target map is non-finite (the caller skips those maps and warns).
    """
    kinds = ["pred_nonfinite", "target_nonfinite"]
    if negative_target:
        kinds.append("target_negative")
    flags = host_flags([bad_maps(k, pred, target).any() for k in kinds])
    for kind, flag in zip(kinds, flags):
        if flag and not (skip_nonfinite_target and kind == "target_nonfinite"):
            arg, problem = _PROBLEMS[kind]
            b, k = torch.nonzero(bad_maps(kind, pred, target))[0].tolist()
            raise ValueError(f"{loss} loss: {arg} {problem} (first at map (b, k) = ({b}, {k}))")
    return bool(flags[1])
