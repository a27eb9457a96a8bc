"""The paper's 2-D Wasserstein loss: entropic W1 between softmax(prediction) and the target."""

from __future__ import annotations

import warnings

import torch
from torch import nn

from otmark.losses._reduce import bad_maps, check_shapes, check_values, weighted_mean
from otmark.ot import DEFAULT_EPS, FORMS, KernelCache, SinkhornOptions, wasserstein2d
from otmark.ot.wasserstein import or_one_pixel

NONFINITE_TARGET = ("raise", "skip")


def wasserstein_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None = None,
    eps: float = DEFAULT_EPS,
    value: str = "cost",
    grad: str = "implicit",
    options: SinkhornOptions | None = None,
    cache: KernelCache | None = None,
    check_inputs: bool = True,
    nonfinite_target: str = "raise",
    form: str = "difference",
) -> torch.Tensor:
    """Mean over maps of ``W_eps(softmax(pred), target / sum(target))``, in heatmap pixels.

    Every map is solved (fixed shapes, no data-dependent selection); maps whose target has no
    mass (a landmark outside the heatmap) contribute 0, still connected to the graph (zero
    gradient), and the mean is over all ``B * K`` maps, like the other losses.

    Args:
        pred: ``(B, K, H, W)`` logits. target: ``(B, K, H, W)`` non-negative targets.
        weight: optional ``(B, K)``.
        eps, value, grad, options, cache, form: see :func:`otmark.ot.wasserstein2d`
            (``eps`` defaults to :data:`otmark.ot.DEFAULT_EPS`; ``form="difference"`` moves
            only the mass where the maps differ).
        check_inputs: raise ``ValueError`` naming the map ``(b, k)`` if ``pred`` or ``target``
            holds NaN/inf or ``target`` is negative (one host synchronisation; False skips it).
        nonfinite_target: ``"raise"`` (default) or ``"skip"``: a target map with NaN/inf then
            contributes 0 like an empty one, with a warning.
    """
    check_shapes(pred, target, weight)
    if nonfinite_target not in NONFINITE_TARGET:
        raise ValueError(
            f"nonfinite_target must be one of {NONFINITE_TARGET}, got {nonfinite_target!r}"
        )
    b, k, h, w = pred.shape
    skip = nonfinite_target == "skip"
    if check_inputs and check_values("wasserstein", pred, target, True, skip):
        first = torch.nonzero(bad_maps("target_nonfinite", pred, target))[0].tolist()
        warnings.warn(
            f"wasserstein loss: target contains NaN or inf (first at map (b, k) = "
            f"({first[0]}, {first[1]})); those maps are skipped (contribute 0)",
            RuntimeWarning,
            stacklevel=2,
        )
    tgt = target.to(torch.float64 if pred.dtype == torch.float64 else torch.float32)
    tgt = tgt.reshape(b * k, h, w)
    if check_inputs and not skip:  # a non-finite target raised above
        valid = tgt.sum(dim=(-2, -1)) > 0
    else:
        finite = torch.isfinite(tgt).flatten(1).all(dim=1)
        tgt = torch.where(finite[:, None, None], tgt, torch.zeros_like(tgt))
        valid = finite & (tgt.sum(dim=(-2, -1)) > 0)
    # a map without usable mass is solved against a one-pixel dummy target (fixed shapes) and
    # masked out below
    tgt = or_one_pixel(valid, tgt)
    with torch.autocast(pred.device.type, enabled=False):
        logits = pred.reshape(b * k, h * w).to(tgt.dtype)
        prob = torch.softmax(logits, dim=-1).reshape(b * k, h, w)
        dist = wasserstein2d(
            prob, tgt, eps, value, grad, options, cache, check_inputs=False, form=form
        )
    per_map = torch.where(valid, dist, torch.zeros_like(dist))
    return weighted_mean(per_map.reshape(b, k), weight)


class WassersteinLoss(nn.Module):
    """Module form of :func:`wasserstein_loss`; owns a kernel cache reused across steps.

    Args:
        eps: entropic regularisation in heatmap pixels (default :data:`otmark.ot.DEFAULT_EPS`).
        value: ``"cost"`` (transport cost, default) or ``"entropic"``.
        grad: ``"implicit"`` (dual potentials, default) or ``"unrolled"``.
        form: ``"difference"`` (default: move only the mass where prediction and target
            differ) or ``"full"`` (:func:`otmark.ot.wasserstein2d`).
        check_inputs, nonfinite_target: see :func:`wasserstein_loss`.
        **solver: further :class:`otmark.ot.SinkhornOptions` fields (``tol``, ``backend`` ...).
    """

    output_is_logits = True

    def __init__(
        self,
        eps: float = DEFAULT_EPS,
        value: str = "cost",
        grad: str = "implicit",
        check_inputs: bool = True,
        nonfinite_target: str = "raise",
        form: str = "difference",
        **solver,
    ) -> None:
        super().__init__()
        if nonfinite_target not in NONFINITE_TARGET:
            raise ValueError(
                f"nonfinite_target must be one of {NONFINITE_TARGET}, got {nonfinite_target!r}"
            )
        if form not in FORMS:
            raise ValueError(f"form must be one of {FORMS}, got {form!r}")
        self.eps, self.value, self.grad, self.form = eps, value, grad, form
        self.check_inputs, self.nonfinite_target = check_inputs, nonfinite_target
        self.options = SinkhornOptions(eps=eps, **solver)
        self.cache = KernelCache()

    def forward(self, pred, target, weight=None):
        return wasserstein_loss(
            pred,
            target,
            weight,
            self.eps,
            self.value,
            self.grad,
            self.options,
            self.cache,
            self.check_inputs,
            self.nonfinite_target,
            self.form,
        )

    def extra_repr(self) -> str:
        return f"eps={self.eps}, value={self.value!r}, grad={self.grad!r}, form={self.form!r}"
