"""``wasserstein2d``: entropic W1 between batches of 2-D histograms, with its gradient.

Which value is returned (``value=``):

- ``"cost"`` (default): the transport cost ``<P, C>`` of the entropic plan, in pixels. It is the
  paper's Eq. 4 evaluated at the Sinkhorn plan and the closest of the three to the exact W1
  (its bias is the blur of the plan, O(eps)); POT's ``sinkhorn2`` returns the same quantity.
- ``"entropic"``: ``OT_eps = <P, C> + eps KL(P | a x b)``, larger than ``"cost"`` by
  ``eps`` times the plan's mutual information (several pixels when eps is not small).
- The debiased Sinkhorn divergence is not offered: it needs ``OT_eps(a, a)`` with a
  full-support source on both sides, which converges slowly and defeats the target window.
  Richardson extrapolation ``2 W(eps) - W(2 eps)`` was measured too and is not offered either:
  it undershoots W1 by up to 2-3 % on random predictions.

Bias model: the cost exceeds W1 by 0.15 to about 0.5 eps pixels (additive, larger for concentrated
predictions), so the relative error is largest when W1 is small; at the default
:data:`otmark.ot.DEFAULT_EPS` it stays within 3 % for W1 >= 2 px (``tests/ot``).

Which problem is solved (``form=``):

- ``"difference"`` (default): only the mass that differs is moved, ``(a - b)+`` onto
  ``(b - a)+`` (both of mass ``m = |a - b|_1 / 2``), and the value is ``m`` times the value of
  that normalised problem. Because the ground cost is a metric, W1 depends on ``a - b`` only
  (Kantorovich-Rubinstein: ``W1(a, b) = sup <phi, a - b>`` over 1-Lipschitz ``phi``), so the
  exact W1 is unchanged; the plan ``diag(min(a, b)) + m P`` is feasible for ``(a, b)``, so the
  cost is still never below W1, and its entropic blur only spreads the moved mass: the bias is
  about ``m`` times that of ``"full"``. It also converges much faster when ``a`` is close to
  ``b`` (late in training: about 20 iterations instead of the 100-iteration cap of ``"full"``
  for 32x32 maps with sigma-3 targets, ``docs/wasserstein_loss.md``). The gradient w.r.t. ``a``
  is ``f`` where ``a > b`` and ``-g`` where ``a < b`` (the potentials of the difference
  problem); w.r.t. ``b`` it is its negative, since the value depends on ``a - b`` only.
- ``"full"``: the entropic problem between ``a`` and ``b`` themselves (the common mass is
  transported too, and blurred).

Gradient (``grad=``):

- ``"implicit"`` (default): by the envelope theorem the gradient of ``OT_eps`` w.r.t. ``a`` is
  the dual potential ``f``, read off the converged solver (run without autograd, no memory per
  iteration). It is the exact gradient of ``"entropic"``; for ``"cost"`` it is the gradient of
  the entropic problem whose plan defines the cost (they differ by O(eps), as in POT).
- ``"unrolled"``: autograd through every Sinkhorn iteration: the exact gradient of whichever
  value is returned, at the price of memory per iteration and ~2x time.
"""

from __future__ import annotations

import dataclasses

import torch

from otmark.ot.kernels import KernelCache
from otmark.ot.sinkhorn import SinkhornOptions, host_flags, sinkhorn2d

VALUES = ("cost", "entropic")
GRADS = ("implicit", "unrolled")
FORMS = ("difference", "full")


class _ImplicitW(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a, b, options, cache, value):  # a, b: (P, H, W) normalised
        res = sinkhorn2d(a.detach(), b.detach(), options, cache)
        ctx.save_for_backward(res.f.to(a.dtype), res.g.to(b.dtype))
        out = res.cost if value == "cost" else res.entropic
        return out.to(a.dtype)

    @staticmethod
    def backward(ctx, grad_out):
        f, g = ctx.saved_tensors
        ga = grad_out[:, None, None] * f if ctx.needs_input_grad[0] else None
        gb = grad_out[:, None, None] * g if ctx.needs_input_grad[1] else None
        return ga, gb, None, None, None


class _ImplicitWDifference(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a, b, options, cache, value):  # a, b: (P, H, W) normalised
        value_, potential = _solve_difference(a.detach(), b.detach(), options, cache, value)
        ctx.save_for_backward(potential.to(a.dtype))
        return value_.to(a.dtype)

    @staticmethod
    def backward(ctx, grad_out):
        (potential,) = ctx.saved_tensors
        ga = grad_out[:, None, None] * potential
        return (
            ga if ctx.needs_input_grad[0] else None,
            -ga if ctx.needs_input_grad[1] else None,
            None,
            None,
            None,
        )


def or_one_pixel(keep: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
    """``maps: (P, H, W)`` where ``keep: (P,)``, else a map with all its mass on pixel (0, 0):
    a stand-in that keeps the shapes fixed for pairs whose result is masked out."""
    dummy = torch.zeros_like(maps)
    dummy[:, 0, 0] = 1.0
    return torch.where(keep[:, None, None], maps, dummy)


#: below this moved mass (of 1) a pair counts as equal: value 0, gradient 0
MIN_MOVED_MASS = 1e-7


@dataclasses.dataclass(frozen=True)
class DifferenceProblem:
    """The balanced problem that ``form="difference"`` solves for ``a, b: (P, H, W)``.

    ``src``/``dst`` ``(P, H, W)``: ``(a - b)+`` and ``(b - a)+``, each normalised by the moved
    mass ``mass: (P,)`` (one-pixel stand-ins where ``moved: (P,)`` is false); ``diff``
    ``(P, H, W)``: ``a - b`` after the target's truncation; ``anchor: (P,)``: the target's
    peak (flat index), where the fixed backend centres its disc."""

    src: torch.Tensor
    dst: torch.Tensor
    mass: torch.Tensor
    moved: torch.Tensor
    diff: torch.Tensor
    anchor: torch.Tensor


def difference_problem(
    a: torch.Tensor, b: torch.Tensor, options: SinkhornOptions
) -> DifferenceProblem:
    """Form the difference problem (module docs) of normalised ``a, b: (P, H, W)``."""
    p = a.shape[0]
    # the target without its pixels below ``threshold * max`` (renormalised; elementwise, so
    # no host synchronisation): every pixel where it exceeds ``a`` then lies in the difference
    # problem's target support, so ``g`` is known wherever the potential needs it
    if options.threshold > 0 and not options.full_window:
        keep = b >= options.threshold * b.amax(dim=(1, 2), keepdim=True)
        b = torch.where(keep, b, torch.zeros_like(b))
        b = b / b.sum(dim=(1, 2), keepdim=True)
    d = a - b
    src, dst = d.clamp(min=0), (-d).clamp(min=0)
    mass = src.sum(dim=(1, 2))
    moved = mass > MIN_MOVED_MASS
    # a pair without moved mass is solved between two equal one-pixel maps (fixed shapes)
    safe = torch.where(moved, mass, torch.ones_like(mass))[:, None, None]
    src, dst = or_one_pixel(moved, src / safe), or_one_pixel(moved, dst / safe)
    # the fixed backend centres the target disc on the target's peak, not on the peak of
    # (b - a)+, so the disc (and the precision it allows) is that of the full problem
    anchor = torch.where(moved, b.reshape(p, -1).argmax(dim=1), 0)
    return DifferenceProblem(src, dst, mass, moved, d, anchor)


def solve_difference_problem(
    problem: DifferenceProblem, options: SinkhornOptions, cache: KernelCache | None = None
):
    """Sinkhorn on ``problem``'s normalised parts (no further truncation): the
    :class:`SinkhornResult` of the ``P`` pairs, whose ``iterations`` the benchmarks report."""
    opts = dataclasses.replace(options, threshold=0.0)
    return sinkhorn2d(problem.src, problem.dst, opts, cache, problem.anchor)


def _solve_difference(a, b, options: SinkhornOptions, cache: KernelCache, value: str):
    """``form="difference"`` (module docs) for normalised ``a, b: (P, H, W)``: the per-pair
    value ``(P,)`` and the potential ``(P, H, W)`` that is its gradient w.r.t. ``a``.

    Differentiable by autograd (``grad="unrolled"``) when ``a``/``b`` require grad."""
    pb = difference_problem(a, b, options)
    res = solve_difference_problem(pb, options, cache)
    per_pair = res.cost if value == "cost" else res.entropic
    out = torch.where(pb.moved, pb.mass * per_pair, torch.zeros_like(per_pair))
    potential = torch.where(pb.diff > 0, res.f, -res.g)
    potential = torch.where(pb.moved[:, None, None], potential, torch.zeros_like(potential))
    return out, potential


def check_histograms(a: torch.Tensor, b: torch.Tensor, names: tuple[str, str] = ("a", "b")):
    """Raise ``ValueError`` naming the argument if ``a`` or ``b`` (``(..., H, W)``) has a
    non-finite or negative value or a map without mass. One host read for all checks."""
    flags = []
    for x in (a, b):
        total = x.sum(dim=(-2, -1))
        flags += [~torch.isfinite(x).all(), (x < 0).any(), (total <= 0).any()]
    bad = host_flags(flags)
    problems = ("contains NaN or inf", "must be non-negative", "has a map with no mass (all zeros)")
    for i, flag in enumerate(bad):
        if flag:
            x = (a, b)[i // 3]
            lead = x.shape[:-2]
            if i % 3 == 0:
                per_map = ~torch.isfinite(x).flatten(-2).all(dim=-1)
            elif i % 3 == 1:
                per_map = (x < 0).flatten(-2).any(dim=-1)
            else:
                per_map = x.sum(dim=(-2, -1)) <= 0
            first = torch.nonzero(per_map.reshape(lead))[0].tolist() if lead else []
            where = f" (first at map {tuple(first)})" if first else ""
            raise ValueError(f"{names[i // 3]} {problems[i % 3]}{where}")


def wasserstein2d(
    a: torch.Tensor,
    b: torch.Tensor,
    eps: float | None = None,
    value: str = "cost",
    grad: str = "implicit",
    options: SinkhornOptions | None = None,
    cache: KernelCache | None = None,
    check_inputs: bool = True,
    form: str = "difference",
) -> torch.Tensor:
    """Entropic 2-D Wasserstein-1 distance (Euclidean ground cost) between histograms.

    Autocast-safe: the solve runs with autocast disabled, in float32 (float64 for float64
    inputs); half-precision inputs give a float32 result.

    Args:
        a: ``(..., H, W)`` non-negative histograms (normalised inside), e.g. ``(B, K, H, W)``.
        b: ``(..., H, W)`` non-negative histograms of the same shape, typically Gaussian targets
            (a target with small support is solved much faster, see :mod:`otmark.ot.sinkhorn`).
        eps: entropic regularisation in pixels; ``None`` takes ``options.eps`` (whose default
            is :data:`otmark.ot.DEFAULT_EPS`).
        value: ``"cost"`` or ``"entropic"`` (module docs).
        grad: ``"implicit"`` or ``"unrolled"`` (module docs).
        options: further solver settings (:class:`otmark.ot.SinkhornOptions`).
        cache: a :class:`otmark.ot.KernelCache` to reuse kernel tables across calls.
        check_inputs: check for NaN/inf, negative values and empty maps (one host
            synchronisation); callers that checked already pass False.
        form: ``"difference"`` (move only ``(a - b)+`` onto ``(b - a)+``) or ``"full"``
            (module docs).

    Returns:
        ``(...)`` per-pair values in pixels of the grid.
    """
    if a.shape != b.shape or a.dim() < 2:
        raise ValueError(
            "a and b must have the same shape (..., H, W); "
            f"got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    if value not in VALUES:
        raise ValueError(f"value must be one of {VALUES}, got {value!r}")
    if grad not in GRADS:
        raise ValueError(f"grad must be one of {GRADS}, got {grad!r}")
    if form not in FORMS:
        raise ValueError(f"form must be one of {FORMS}, got {form!r}")
    opts = options or SinkhornOptions()
    fields = dict(opts.__dict__)
    if eps is not None:
        fields["eps"] = float(eps)
    if b.requires_grad:
        fields["full_window"] = True  # the target potential is needed on the whole grid
    opts = SinkhornOptions(**fields)
    lead, (h, w) = a.shape[:-2], a.shape[-2:]
    out_dtype = a.dtype if a.dtype == torch.float64 else torch.float32
    if check_inputs:
        check_histograms(a, b)
    with torch.autocast(a.device.type, enabled=False):
        a = a.to(out_dtype)
        b = b.to(out_dtype)
        an = (a / a.sum(dim=(-2, -1), keepdim=True)).reshape(-1, h, w)
        bn = (b / b.sum(dim=(-2, -1), keepdim=True)).reshape(-1, h, w)
        cache = cache if cache is not None else KernelCache()
        if form == "difference":
            if grad == "unrolled":
                out = _solve_difference(an, bn, opts, cache, value)[0]
                return out.to(out_dtype).reshape(lead)
            return _ImplicitWDifference.apply(an, bn, opts, cache, value).reshape(lead)
        if grad == "unrolled":
            res = sinkhorn2d(an, bn, opts, cache)
            out = res.cost if value == "cost" else res.entropic
            return out.to(out_dtype).reshape(lead)
        return _ImplicitW.apply(an, bn, opts, cache, value).reshape(lead)
