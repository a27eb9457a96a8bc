"""Multiscale, eps-scaled entropic Sinkhorn for batches of 2-D histograms (Euclidean cost).

Problem, per pair: ``OT_eps(a, b) = min_P <P, C> + eps * KL(P | a x b)`` over couplings ``P`` of
``a`` (on the full ``H x W`` grid) and ``b`` (inside its window, see
:mod:`otmark.ot.geometry`), ``C`` the Euclidean distance between pixel centres in pixels.

Dual potentials and the symmetric Sinkhorn updates (log form)::

    f_i = -eps log sum_j b_j exp((g_j - C_ij) / eps)
    g_j = -eps log sum_i a_i exp((f_i - C_ij) / eps)

The grid potential is stored shifted, ``phi_i = f_i - rho_i`` with ``rho_i`` the distance from
pixel ``i`` to the window centre; with the shifted kernel ``Khat`` of :mod:`otmark.ot.kernels`::

    phi_i = -M - eps log sum_j Khat_ij exp((g_j + eps log b_j - M) / eps)
    g_j   = -N - eps log sum_i Khat_ij exp((phi_i + eps log a_i - N) / eps)

with ``M = max_j (g_j + eps log b_j)`` and ``N = max_i (phi_i + eps log a_i)``.

Table entries lie in ``[exp(-r/eps), exp(r/eps)]`` (``r`` the largest distance from the window
centre to a window pixel with target mass; pixels without mass get no column). The tables are
scaled by ``exp(-c)`` and the exponentials shifted up to ``exp(c)`` instead of 1
(:func:`otmark.ot.fixed.headroom`), so that weights far below the largest one stay above the
float32 underflow. The "scaling" precision (matrix products with one shared table) then holds
in float32 while ``r / eps <= 70`` and in float64 while ``r / eps <= 650``; beyond that the
"log" precision (chunked log-sum-exp, slow but exact for any eps) takes over. ``auto`` picks per
level.

Two backends share this front (:func:`sinkhorn2d`): the "bucketed" one below (the CPU default:
data-dependent layout, multiscale, tolerance-driven) and the fixed-shape one of
:mod:`otmark.ot.fixed` (the default on other devices: fixed shapes and iteration count, no host
synchronisation inside the solve).

Speed of the bucketed backend comes from (1) the target window (a Gaussian target covers a few
hundred pixels, not the whole grid), (2) a multiscale pyramid (2x2 pooling) on which eps is
annealed geometrically from the grid diameter down to the target value (eps-scaling), so only a
few iterations run at full resolution, (3) convergence by tolerance on the marginal error.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import torch

from otmark.ot.fixed import float32_limit, headroom, solve_fixed
from otmark.ot.geometry import (
    Level,
    build_levels,
    gather_windows,
    scatter_windows,
    target_windows,
    upsample_potential,
)
from otmark.ot.kernels import KernelCache, canvas_tables

#: THE default entropic regularisation, in pixels of the grid (heatmap pixels for the loss):
#: used by SinkhornOptions, wasserstein2d and the Wasserstein loss. The transport cost exceeds
#: the exact W1 by 0.15 to about 0.5 eps (docs/wasserstein_loss.md), about 0.075 px here.
DEFAULT_EPS = 0.15
#: largest ``r / eps`` for which float64 scaling iterations are exact (module docs); the float32
#: limit depends on the problem size, see :func:`otmark.ot.fixed.float32_limit`
FLOAT64_LIMIT = 650.0
#: the bucketed backend's float32 limit on ``r / eps``: the fixed backend's
#: (:data:`otmark.ot.fixed.FLOAT32_LIMIT`); with the headroom of :func:`otmark.ot.fixed.headroom`
#: float32 matches float64 there (without it, 64 already stalled at a marginal error of 1e-3)
BUCKETED_FLOAT32_LIMIT = 70.0
PRECISIONS = ("auto", "float32", "float64", "log")
BACKENDS = ("auto", "bucketed", "fixed")


@dataclass(frozen=True)
class SinkhornOptions:
    """Solver settings (all lengths in pixels of the finest grid).

    Attributes:
        eps: entropic regularisation (the final value).
        scaling: ratio between consecutive eps values of the annealing schedule, in (0, 1).
        tol: stop when the L1 error of the source marginal is below ``tol`` on average over the
            pairs and below ``10 * tol`` for every pair.
        max_iter: cap on the iterations at the final eps and resolution.
        multiscale: anneal on a 2x2-pooled pyramid before the full grid.
        min_size: coarsest grid side of the pyramid.
        threshold: target pixels below ``threshold * max(b)`` are outside the target window
            (their mass is dropped and ``b`` renormalised); 0 keeps every non-zero pixel.
        precision: ``"auto"``, ``"float32"``, ``"float64"`` or ``"log"`` (see module docs).
        bucket: side of the blocks of window origins that share one matrix product
            (speed/memory knob: larger blocks waste more products on padding, smaller ones make
            more, smaller products).
        full_window: treat the whole grid as the target window (needed for gradients w.r.t. b,
            and for targets without compact support).
        overrelax: over-relaxation weight ``w`` in [1, 2) of the iterations at the final eps
            (``phi <- (1 - w) phi + w update(phi)``, same for ``g``); 1 is plain Sinkhorn. If
            the marginal error doubles between iterations (checks) it falls back to 1.
        backend: ``"bucketed"`` (multiscale, tolerance-driven, data-dependent layout: the CPU
            backend), ``"fixed"`` (fixed shapes and iteration count, no host synchronisation in
            the loop: the GPU backend, :mod:`otmark.ot.fixed`) or ``"auto"`` (by device).
        iterations: fixed backend: iterations at the final eps (after one per annealing step;
            at least one runs).
        check_every: fixed backend: iterations between the on-device over-relaxation checks.
        eps_start: fixed backend: first eps of the annealing schedule (capped by the diameter).
        radius: fixed backend: radius of the target disc in pixels; ``None`` reads it from the
            data (one host synchronisation).
        split_blocks: bucketed backend: divide the span of the window origins into equal blocks
            of at most ``bucket``, at least two per axis (:func:`bucket_side`; the same
            arithmetic, less padding); False: blocks of exactly ``bucket``, as before.
    """

    eps: float = DEFAULT_EPS
    scaling: float = 0.5
    tol: float = 2e-3
    max_iter: int = 100
    multiscale: bool = True
    min_size: int = 8
    threshold: float = 1e-6
    precision: str = "auto"
    bucket: int = 16
    full_window: bool = False
    overrelax: float = 1.65
    backend: str = "auto"
    iterations: int = 24
    check_every: int = 8
    eps_start: float = 1.0
    radius: float | None = None
    split_blocks: bool = True

    def __post_init__(self) -> None:
        if not self.eps > 0:
            raise ValueError(f"eps must be > 0, got {self.eps}")
        if not 0 < self.scaling < 1:
            raise ValueError(f"scaling must be in (0, 1), got {self.scaling}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.max_iter < 1 or self.bucket < 1 or self.min_size < 1:
            raise ValueError("max_iter, bucket and min_size must be >= 1")
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {self.backend!r}")
        if self.iterations < 0 or self.check_every < 1:
            raise ValueError("iterations must be >= 0 and check_every >= 1")
        if not 1.0 <= self.overrelax < 2.0:
            raise ValueError(f"overrelax must be in [1, 2), got {self.overrelax}")


@dataclass
class SinkhornResult:
    """What the solver returns (``P`` pairs of ``H x W`` maps).

    Attributes:
        f: ``(P, H, W)`` source potential (the gradient of ``OT_eps`` w.r.t. ``a``, up to a
            constant).
        g: ``(P, H, W)`` target potential inside the window, 0 outside it.
        entropic: ``(P,)`` ``OT_eps = <a, f> + <b, g>``.
        cost: ``(P,)`` transport cost ``<P, C>`` of the entropic plan.
        marginal_error: ``(P,)`` L1 error of the source marginal before the last update (the
            convergence criterion; the returned plan's source marginal is exact).
        iterations: Sinkhorn iterations run (all levels).
        backends: the backend used at each (level, eps) step, e.g. ``"float32"``.
        window: target window size used.
    """

    f: torch.Tensor
    g: torch.Tensor
    entropic: torch.Tensor
    cost: torch.Tensor
    marginal_error: torch.Tensor
    iterations: int
    backends: list[str] = field(default_factory=list)
    window: tuple[int, int] = (0, 0)


# --------------------------------------------------------------------------------------------
# buckets: pairs whose window origins lie in the same block of origins share one block of the
# canvas table; pairs are sorted by bucket so that each bucket is a contiguous slice of the batch


@dataclass
class _Bucket:
    pairs: slice  # the bucket's pairs in the sorted order
    block: tuple[int, int, int, int]  # canvas table rows y0:y1 and columns x0:x1
    index: torch.Tensor  # (PB, ny * nx) position of each grid pixel in the bucket's canvas


@dataclass
class _Layout:
    order: torch.Tensor  # (P,) sorted position -> pair
    inverse: torch.Tensor  # (P,) pair -> sorted position
    buckets: list[_Bucket]


#: a level whose window origins span at least this many pixels gets at least two blocks of
#: origins per axis (:func:`bucket_side`)
MIN_SPLIT_SPAN = 8


def bucket_side(grid: tuple[int, int], window: tuple[int, int], bucket: int) -> int:
    """The side of the blocks of window origins on a level: the span of the origins divided
    into equal blocks of at most ``bucket`` (``SinkhornOptions.bucket``), at least two per axis
    when the span is at least :data:`MIN_SPLIT_SPAN` pixels.

    A block computes its pairs' kernel sums over a canvas of ``(ny + side - 1) x
    (nx + side - 1)`` relative positions, of which a pair reads ``ny x nx``: for 32x32 maps and
    18x18 windows (sigma-3 px targets, span 15) one block of 16 has 2116 rows for 1024 used,
    two blocks of 8 per axis 1521 (the same arithmetic, 28 % fewer FLOPs); with 16x16
    windows (span 17) blocks of 16 leave one block of 16 and one of 1 per axis (2209 rows),
    blocks of 9 balance them (1600). Blocks much smaller than the map lose more to the number
    of products and of tables than they save (docs/wasserstein_loss.md)."""
    span = max(grid[0] - window[0], grid[1] - window[1]) + 1
    blocks = -(-span // bucket)
    if span >= MIN_SPLIT_SPAN:
        blocks = max(blocks, 2)
    return -(-span // blocks)


def _make_layout(level: Level, bucket: int) -> _Layout:
    (ny, nx), (wy, wx) = level.grid, level.window
    oy, ox = level.origins[:, 0], level.origins[:, 1]
    dev = oy.device
    nby = (nx - wx) // bucket + 1  # buckets per row of origins
    bid = torch.div(oy, bucket, rounding_mode="floor") * nby + torch.div(
        ox, bucket, rounding_mode="floor"
    )
    order = torch.argsort(bid, stable=True)
    inverse = torch.empty_like(order)
    inverse[order] = torch.arange(len(order), device=dev)
    iy = torch.arange(ny, device=dev)[:, None]
    ix = torch.arange(nx, device=dev)[None, :]
    ids, counts = torch.unique_consecutive(bid[order], return_counts=True)
    buckets, start = [], 0
    for k, count in zip(ids.tolist(), counts.tolist()):
        ky, kx = divmod(k, nby)
        oy_lo, ox_lo = ky * bucket, kx * bucket
        oy_hi, ox_hi = min(oy_lo + bucket - 1, ny - wy), min(ox_lo + bucket - 1, nx - wx)
        cy, cx = ny + oy_hi - oy_lo, nx + ox_hi - ox_lo
        y0, x0 = ny - wy - oy_hi, nx - wx - ox_hi
        pairs = order[start : start + count]
        idx = (iy - oy[pairs, None, None] + oy_hi) * cx + (ix - ox[pairs, None, None] + ox_hi)
        buckets.append(
            _Bucket(slice(start, start + count), (y0, y0 + cy, x0, x0 + cx), idx.reshape(count, -1))
        )
        start += count
    return _Layout(order, inverse, buckets)


def _apply_k(tables: list[torch.Tensor], layout: _Layout, v: torch.Tensor) -> torch.Tensor:
    """``sum_j Khat_ij v_j`` for every grid pixel: ``v: (P, w)`` -> ``(P, ny * nx)``."""
    outs = []
    for bk, table in zip(layout.buckets, tables):
        outs.append((v[bk.pairs] @ table.T).gather(1, bk.index))
    return torch.cat(outs)


def _apply_kt(tables: list[torch.Tensor], layout: _Layout, u: torch.Tensor) -> torch.Tensor:
    """``sum_i Khat_ij u_i`` for every window pixel: ``u: (P, ny * nx)`` -> ``(P, w)``."""
    outs = []
    for bk, table in zip(layout.buckets, tables):
        canvas = u.new_zeros(bk.index.shape[0], table.shape[0]).scatter(1, bk.index, u[bk.pairs])
        outs.append(canvas @ table)
    return torch.cat(outs)


def _log_blocks(tables: list[torch.Tensor], layout: _Layout, chunk: int):
    """Yield ``(pairs slice, (pc, n, w) log Khat rows)`` for the log-domain path, chunked."""
    for bk, table in zip(layout.buckets, tables):
        for s in range(bk.pairs.start, bk.pairs.stop, chunk):
            stop = min(s + chunk, bk.pairs.stop)
            index = bk.index[s - bk.pairs.start : stop - bk.pairs.start]
            yield slice(s, stop), table[index.reshape(-1)].reshape(stop - s, index.shape[1], -1)


# --------------------------------------------------------------------------------------------


def _shifted_exp(t: torch.Tensor, m: torch.Tensor, eps: float) -> torch.Tensor:
    """``exp((t - m) / eps)``, in place on a fresh tensor when no gradient flows."""
    if t.requires_grad:
        return torch.exp((t - m) / eps)
    return torch.sub(t, m).div_(eps).exp_()


def _neg_log_sum(sums: torch.Tensor, m: torch.Tensor, eps: float) -> torch.Tensor:
    """``-m - eps * log(sums)`` (the potential from the kernel sums)."""
    if sums.requires_grad or m.requires_grad:
        return -m - eps * torch.log(sums)
    return sums.log_().mul_(-eps).sub_(m)


class _LevelSolver:
    """Sinkhorn updates on one level, for one eps, with one backend.

    All its tensors are in the layout's sorted order of pairs.
    """

    def __init__(
        self,
        level: Level,
        layout: _Layout,
        eps: float,
        backend: str,
        cache: KernelCache,
        ratio: float = 0.0,
    ):
        self.level, self.layout, self.eps, self.backend = level, layout, eps, backend
        self.dtype = torch.float32 if backend == "float32" else torch.float64
        self.cache = cache
        # weights shifted up to exp(c), tables scaled by exp(-c) (otmark.ot.fixed.headroom)
        self.headroom = headroom(ratio) if backend != "log" else 0.0
        self.tables = self._tables("log_kernel" if backend == "log" else "kernel")
        self.eps_log_a = eps * level.log_a[layout.order].to(self.dtype)
        self.eps_log_b = eps * level.log_b[layout.order].to(self.dtype)
        self.a = level.log_a[layout.order].to(self.dtype).exp()
        n, w = self.eps_log_a.shape[1], self.eps_log_b.shape[1]
        self.chunk = max(1, (1 << 24) // (n * w))

    def _tables(self, kind: str) -> list[torch.Tensor]:
        lv = self.level
        dev = lv.log_a.device
        cols = lv.cols
        full = cols.numel() == lv.window[0] * lv.window[1]
        key = ("cols", tuple(cols.tolist())) if not full else ("all",)
        return [
            self.cache.lookup(
                (
                    lv.grid,
                    lv.window,
                    lv.pixel,
                    self.eps,
                    self.dtype,
                    str(dev),
                    kind,
                    bk.block,
                    key,
                    self.headroom,
                ),
                lambda bk=bk: canvas_tables(
                    lv.grid,
                    lv.window,
                    lv.pixel,
                    self.eps,
                    self.dtype,
                    dev,
                    kind,
                    bk.block,
                    self.headroom,
                )[:, cols].contiguous(),
            )
            for bk in self.layout.buckets
        ]

    def to_sorted(self, x: torch.Tensor) -> torch.Tensor:
        return x[self.layout.order].to(self.dtype)

    def to_batch(self, x: torch.Tensor) -> torch.Tensor:
        return x[self.layout.inverse]

    def g_update(self, phi: torch.Tensor) -> torch.Tensor:
        eps = self.eps
        t = phi + self.eps_log_a
        if self.backend == "log":
            t = t / eps
            out = torch.cat(
                [torch.logsumexp(lk + t[s][:, :, None], dim=1) for s, lk in self._blocks()]
            )
            return -eps * out
        m = t.amax(dim=1, keepdim=True)
        u = _shifted_exp(t, m - eps * self.headroom, eps)
        return _neg_log_sum(_apply_kt(self.tables, self.layout, u), m, eps)

    def f_update(self, g: torch.Tensor, keep: bool = False):
        """New ``phi``, and for the scaling backends the vector ``v`` used and (with ``keep``)
        the sums ``K v`` (both reused by the transport cost)."""
        eps = self.eps
        t = g + self.eps_log_b
        if self.backend == "log":
            t = t / eps
            out = torch.cat(
                [torch.logsumexp(lk + t[s][:, None, :], dim=2) for s, lk in self._blocks()]
            )
            return -eps * out, None
        m = t.amax(dim=1, keepdim=True)
        v = _shifted_exp(t, m - eps * self.headroom, eps)
        kv = _apply_k(self.tables, self.layout, v)
        if keep:
            return -m - eps * torch.log(kv), (v, kv)
        return _neg_log_sum(kv, m, eps), (v, None)

    def _blocks(self):
        return _log_blocks(self.tables, self.layout, self.chunk)

    def marginal_error(self, phi_old: torch.Tensor, phi_new: torch.Tensor) -> torch.Tensor:
        """L1 error of the source marginal of the plan ``(phi_old, g)`` (``phi_new`` = update)."""
        if phi_old.requires_grad or phi_new.requires_grad:
            ratio = torch.exp((phi_old - phi_new) / self.eps)
            return (self.a * (1 - ratio).abs()).sum(dim=1)
        ratio = torch.sub(phi_old, phi_new).div_(self.eps).exp_().sub_(1).abs_()
        return (self.a * ratio).sum(dim=1)

    def transport_cost(self, phi: torch.Tensor, g: torch.Tensor, vk) -> torch.Tensor:
        """``<P, C>`` of the plan ``(phi, g)`` right after an f-update (rows sum to ``a``);
        ``vk = (v, K v)`` of that update (scaling backends; ``K v`` is not recomputed)."""
        eps = self.eps
        a = self.a
        if self.backend != "log":
            v, den = vk
            if den is None:
                den = _apply_k(self.tables, self.layout, v)
            num = _apply_k(self._tables("cost_kernel"), self.layout, v)
            return (a * num / den).sum(dim=1)
        rho = self.to_sorted(self.level.centre_distance(self.dtype))
        s_ = (phi + self.eps_log_a) / eps
        t_ = (g + self.eps_log_b) / eps
        out = []
        for s, lk in self._blocks():
            plan = torch.exp(lk + s_[s][:, :, None] + t_[s][:, None, :])
            out.append((plan * (rho[s][:, :, None] - eps * lk)).sum(dim=(1, 2)))
        return torch.cat(out)


def _backend_for(level: Level, eps: float, precision: str, input_dtype: torch.dtype):
    """The precision of one (level, eps) step and its ``r / eps`` (``r``: the mass radius)."""
    if precision == "log":
        return "log", 0.0
    ny, nx = level.grid
    ratio = level.mass_radius() / eps
    f32 = ratio <= min(BUCKETED_FLOAT32_LIMIT, float32_limit(ny * nx, level.cols.numel()))
    if precision in ("float32", "auto") and input_dtype != torch.float64:
        if f32:
            return "float32", ratio
    if ratio <= FLOAT64_LIMIT:
        return "float64", ratio  # the float32 path cannot hold this eps: stay exact
    return "log", ratio


_WARNED: set[str] = set()


def host_flags(flags: list[torch.Tensor]) -> list[bool]:
    """Read boolean 0-dim tensors on the host with ONE synchronisation (a packed ``.item()``)."""
    weights = 2 ** torch.arange(len(flags), device=flags[0].device)
    packed = int((torch.stack(flags).long() * weights).sum().item())
    return [bool(packed >> i & 1) for i in range(len(flags))]


def warn_once(key: str, message: str) -> None:
    """``warnings.warn(message)`` the first time ``key`` is seen in this process."""
    if key not in _WARNED:
        _WARNED.add(key)
        warnings.warn(message, RuntimeWarning, stacklevel=3)


def _check_precision(dtype: torch.dtype, device: torch.device, eps: float) -> None:
    if dtype == torch.float64 and device.type != "cpu":
        warn_once(
            "float64-device",
            f"otmark.ot: eps={eps} px is too small for the float32 kernel of these targets; "
            f"solving in float64 on {device} (slow on most GPUs). Use a larger eps or a "
            "smaller target support.",
        )


def eps_schedule(diameter: float, eps: float, scaling: float) -> list[float]:
    """Geometric annealing ``eps / scaling^k`` from about the grid diameter down to ``eps``.

    Built backwards from ``eps`` so that the last values are ``eps / scaling`` and ``eps``
    (fewer distinct values at full resolution, hence fewer kernel tables).
    """
    values = [eps]
    while values[-1] < diameter:
        values.append(values[-1] / scaling)
    return values[::-1]


def prepare_targets(b: torch.Tensor, options: SinkhornOptions):
    """Window geometry of the targets and the windowed, renormalised targets ``(P, H, W)``."""
    p, h, w = b.shape
    if options.full_window:
        return (h, w), torch.zeros(p, 2, dtype=torch.long, device=b.device), b
    window, origins = target_windows(b.detach(), options.threshold)
    inside = scatter_windows(gather_windows(b, window, origins), (h, w), window, origins)
    return window, origins, inside / inside.sum(dim=(1, 2), keepdim=True)


def sinkhorn2d(
    a: torch.Tensor,
    b: torch.Tensor,
    options: SinkhornOptions | None = None,
    cache: KernelCache | None = None,
    anchor: torch.Tensor | None = None,
) -> SinkhornResult:
    """Solve a batch of entropic OT problems between 2-D histograms.

    One front, two backends (``options.backend``): ``"bucketed"`` (the CPU default) and
    ``"fixed"`` (the default on other devices, :mod:`otmark.ot.fixed`). The solve runs with
    autocast disabled, in float32 (float64 inputs stay float64; float64 is also used where
    float32 cannot represent the kernel, with a warning on GPUs). A solve that stops with a
    marginal error above its tolerance warns once per process.

    Differentiable by autograd through every iteration when ``a``/``b`` require grad (the
    "unrolled" gradient, bucketed backend); :func:`otmark.ot.wasserstein2d` wraps it with the
    implicit gradient.

    Args:
        a: ``(P, H, W)`` non-negative, each summing to 1 (source, full support allowed).
        b: ``(P, H, W)`` non-negative, each summing to 1 (target).
        anchor: fixed backend: ``(P,)`` flat pixel on which each target's disc is centred
            (default: the target's arg-max); the bucketed backend ignores it.
    """
    opts = options or SinkhornOptions()
    cache = cache if cache is not None else KernelCache()
    if a.dtype not in (torch.float32, torch.float64):
        a = a.float()
    b = b.to(a.dtype)
    backend = opts.backend
    if backend == "auto":
        backend = "bucketed" if a.device.type == "cpu" else "fixed"
    if opts.full_window or opts.precision == "log" or a.requires_grad or b.requires_grad:
        backend = "bucketed"  # needs the whole grid as window, a log-domain or a taped loop
    with torch.autocast(a.device.type, enabled=False):
        if backend == "fixed":
            res = _solve_fixed(a, b, opts, cache, anchor)
        else:
            res = _solve_bucketed(a, b, opts, cache)
    # the one host read of the result: a convergence score, NaN if a potential is not finite
    err = res.marginal_error
    tol = max(opts.tol, torch.finfo(torch.float64).tiny)
    # 0 * (sum of the potentials) is NaN exactly when a potential is NaN or infinite
    score = torch.maximum(err.mean(), err.max() / 10) / tol + 0 * (res.f.sum() + res.g.sum())
    score = float(score.item())
    if math.isnan(score):
        raise FloatingPointError(
            "Sinkhorn produced non-finite potentials; inputs must be finite, non-negative "
            "histograms with positive mass"
        )
    if opts.tol > 0 and score >= 1.0 and "unconverged" not in _WARNED:
        mean, worst = float(err.mean()), float(err.max())
        warn_once(
            "unconverged",
            f"otmark.ot: Sinkhorn stopped before converging ({res.iterations} iterations, "
            f"{backend} backend): marginal error {mean:.2e} on average, {worst:.2e} at worst "
            f"(tolerance {opts.tol:g}). Raise iterations/max_iter or eps. "
            "(Shown once per process.)",
        )
    return res


def _solve_fixed(a, b, opts: SinkhornOptions, cache: KernelCache, anchor=None) -> SinkhornResult:
    out = solve_fixed(a, b, opts, cache, opts.precision != "float64", anchor)
    _check_precision(out["f"].dtype, a.device, opts.eps)
    return SinkhornResult(
        f=out["f"],
        g=out["g"],
        entropic=out["entropic"],
        cost=out["cost"],
        marginal_error=out["marginal_error"],
        iterations=out["iterations"],
        backends=[f"fixed-{str(out['f'].dtype).removeprefix('torch.')}"],
        window=(out["columns"], 1),
    )


def _solve_bucketed(a, b, opts: SinkhornOptions, cache: KernelCache) -> SinkhornResult:
    """The multiscale, bucketed, tolerance-driven solver (module docs)."""
    p, h, w = a.shape
    window, origins, b = prepare_targets(b, opts)
    min_size = opts.min_size if opts.multiscale else max(h, w)
    levels = build_levels(a, b, window, origins, min_size, prune=not opts.full_window)
    diameter = math.hypot(h - 1, w - 1)
    plan = []
    for e in eps_schedule(diameter, opts.eps, opts.scaling):
        # the coarsest level whose pixel is at most twice eps
        lvl = max((i for i, lv in enumerate(levels) if lv.pixel <= 2 * e), default=0)
        plan.append((lvl, e))
    backends: list[str] = []
    layouts: dict[int, _Layout] = {}
    state: dict = {"phi": None, "g": None, "level": None, "solver": None}

    def switch(lvl_index: int, eps: float) -> _LevelSolver:
        lv = levels[lvl_index]
        if lvl_index not in layouts:
            side = opts.bucket
            if opts.split_blocks:
                side = bucket_side(lv.grid, lv.window, opts.bucket)
            layouts[lvl_index] = _make_layout(lv, side)
        backend, ratio = _backend_for(lv, eps, opts.precision, a.dtype)
        new = _LevelSolver(lv, layouts[lvl_index], eps, backend, cache, ratio)
        phi, g, old = state["phi"], state["g"], state["solver"]
        if phi is None:
            phi = new.to_sorted(-lv.centre_distance(new.dtype))  # f = 0
        elif state["level"] != lvl_index:  # to a finer level: interpolate f, drop g
            prev = levels[state["level"]]
            f = old.to_batch(phi).to(new.dtype) + prev.centre_distance(new.dtype)
            f = upsample_potential(f, prev.grid, lv.grid)
            phi, g = new.to_sorted(f - lv.centre_distance(new.dtype)), None
        else:
            phi = phi.to(new.dtype)
            g = None if g is None else g.to(new.dtype)
        state.update(phi=phi, g=g, level=lvl_index, solver=new)
        backends.append(backend)
        return new

    iterations = 0
    for lvl_index, e in plan:
        solver = switch(lvl_index, e)
        state["g"] = solver.g_update(state["phi"])
        state["phi"], _ = solver.f_update(state["g"])
        iterations += 1
    if state["level"] != 0:  # the schedule ended on a coarse level: finish on the full grid
        solver = switch(0, opts.eps)
    phi, g = state["phi"], state["g"]
    err = torch.full((p,), float("inf"), dtype=phi.dtype, device=a.device)
    omega = opts.overrelax
    previous = None
    vk = None
    for _ in range(opts.max_iter):
        g_new = solver.g_update(phi)
        g = g_new if (omega == 1.0 or g is None) else torch.lerp(g, g_new, omega)
        new_phi, vk = solver.f_update(g, keep=omega == 1.0)
        err = solver.marginal_error(phi, new_phi)
        phi = new_phi if omega == 1.0 else torch.lerp(phi, new_phi, omega)
        iterations += 1
        mean_err, worst = torch.stack([err.mean(), err.max()]).detach().tolist()
        if mean_err < opts.tol and worst < 10 * opts.tol:
            break
        if previous is not None and worst > 2.0 * previous:
            omega = 1.0  # safeguard: over-relaxation that diverges falls back to plain Sinkhorn
        previous = worst
    if omega != 1.0 or vk is None:  # end on a plain f-update: the plan's source marginal is exact
        phi, vk = solver.f_update(g, keep=True)
    lv0 = levels[0]
    cost = solver.to_batch(solver.transport_cost(phi, g, vk))
    f = solver.to_batch(phi) + lv0.centre_distance(phi.dtype)
    g = solver.to_batch(g)
    err = solver.to_batch(err)
    a_flat = lv0.log_a.exp().to(f.dtype)
    b_win = lv0.log_b.exp().to(f.dtype)
    g = torch.where(b_win > 0, g, torch.zeros_like(g))  # zero-mass target pixels: unused
    entropic = (a_flat * f).sum(dim=1) + (b_win * g).sum(dim=1)
    g_win = g.new_zeros(p, lv0.window[0] * lv0.window[1]).index_copy(1, lv0.cols, g)
    g_grid = scatter_windows(g_win, (h, w), lv0.window, lv0.origins)
    return SinkhornResult(
        f=f.reshape(p, h, w),
        g=g_grid,
        entropic=entropic,
        cost=cost,
        marginal_error=err,
        iterations=iterations,
        backends=backends,
        window=lv0.window,
    )
