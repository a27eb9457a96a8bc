"""The fixed-shape backend of :func:`otmark.ot.sinkhorn2d` (the default on GPUs).

Every tensor shape depends only on the batch size, the map size and the target's support radius,
never on where the targets lie, and the loop runs a fixed number of iterations: no host
synchronisation inside the solve, one launch sequence that ``torch.compile`` and CUDA graphs can
capture. The host reads two numbers per solve: the support radius (skipped when
``SinkhornOptions.radius`` is given) and, at the end, the marginal error (for the warning of an
unconverged solve).

Geometry. Each pair's target lives on the *disc* of offsets ``s`` with ``|s| <= R`` around an
anchor pixel (the target's arg-max); ``R`` covers every target pixel above
``threshold * max(b)``. Pixels of the disc outside the map carry zero mass. The shifted kernel
(:mod:`otmark.ot.kernels`) is taken around the anchor,

    Khat[t, s] = exp((|t| - |t - s|) / eps),     t = x - anchor,

so one table over the relative positions serves all pairs; each pair reads its ``H * W`` rows
through a fixed-shape index (one padded batched product, no buckets). Each pair is reflected in
its indices so that its anchor lies in the top-left quadrant (:func:`fold_index`; the cost and
the disc are symmetric), which leaves ``(H + ceil(H/2) - 1) (W + ceil(W/2) - 1)`` relative
positions instead of ``(2H-1)(2W-1)``. Entries lie in ``[exp(-R/eps), exp(R/eps)]``: float32
holds them while ``R / eps`` stays below :func:`float32_limit`. The tables are scaled by
``exp(-c)`` and the weights of the updates shifted up to ``exp(c)`` (:func:`headroom`), so that
weights far below the largest one do not underflow.

Iterations: from ``f = `` distance to the anchor, one per value of the eps schedule (halving
down to eps from ``eps_start``), then ``iterations`` at the final eps, over-relaxed with weight
``overrelax``; every ``check_every`` iterations the marginal error of each pair is compared on
the device with the previous check and the pair falls back to plain Sinkhorn (weight 1) if it
grew. The plan returned is that of the last f-update (exact source marginal; its ``K v`` serves
the transport cost); the marginal error reported is that of the plan before it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from otmark.ot.geometry import log0
from otmark.ot.kernels import KernelCache

# Potentials are kept in units of eps and negated: ``x = -phi / eps`` (grid, shifted by the
# distance to the anchor) and ``y = -g / eps`` (target disc), so that an update is a sum, a
# shift, an exponential, one matrix product and a log, with eps out of the loop.


def g_update(x, log_a, rows, table, canvas):
    """``y_j = log sum_i Khat_ij a_i exp(-x_i)`` with ``table = exp(-c) Khat`` and
    ``log_a = log a - max(log a) + c`` (:func:`headroom`): up to a constant per pair (``x`` is
    exact, ``y`` is stored minus ``max(log a)``). ``x, log_a, rows: (P, n)``,
    ``table: (canvas, S)``, ``canvas``: a ``(P, canvas)`` zero tensor -> ``(P, S)``.

    The weights are shifted by ``min(x)``, so they lie in ``(0, exp(c)]``: the headroom ``c``
    lets weights far below the largest one stay above the float32 underflow."""
    shift = x.amin(dim=1, keepdim=True)
    u = torch.exp(log_a - x + shift)
    return torch.log(canvas.scatter(1, rows, u) @ table) - shift


def f_update(y, log_b, rows, table_t):
    """``x_i = log sum_j Khat_ij b_j exp(-y_j)`` (exact, with the stored ``y`` of
    :func:`g_update` and ``log_b = log b - max(log a) + c``); also returns the weights ``v`` and
    the sums ``K v`` (reused by the transport cost). ``y: (P, S)``, ``table_t: (S, canvas)``
    -> ``(P, n)``."""
    shift = y.amin(dim=1, keepdim=True)
    v = torch.exp(log_b - y + shift)
    kv = (v @ table_t).gather(1, rows)
    return torch.log(kv) - shift, v, kv


def headroom(ratio: float) -> float:
    """The exponent ``c`` by which the kernel tables are scaled down (``exp(-c) Khat``) and the
    weights of the updates up, for ``R / eps = ratio``: table entries then lie in
    ``[exp(-ratio - c), exp(ratio - c)]`` and stay above the smallest normal float32
    (``exp(-87.3)``) for ``c <= 86 - ratio``; capped at 24."""
    return max(0.0, min(24.0, 86.0 - ratio))


def relaxed_iteration(x, y, omega, log_a, log_b, rows, table, table_t, canvas):
    """One over-relaxed Sinkhorn iteration (``omega: (P, 1)``, 1 = plain); returns the new
    ``(x, y)``, the un-relaxed ``x`` update and its ``v`` and ``K v`` (:func:`f_update`: the
    plan ``(x_new, y)`` has an exact source marginal). Fixed shapes, no host synchronisation,
    no Python scalar that changes between iterations: it compiles with
    ``torch.compile(fullgraph=True)``."""
    y = torch.lerp(y, g_update(x, log_a, rows, table, canvas), omega)
    x_new, v, kv = f_update(y, log_b, rows, table_t)
    return torch.lerp(x, x_new, omega), y, x_new, v, kv


#: largest ``R / eps`` at which float32 iterations were measured to match float64 (cost within
#: 2e-5 relative, marginal error below 3e-5 after convergence)
FLOAT32_LIMIT = 70.0


def float32_limit(rows: int, cols: int) -> float:
    """Largest ``R / eps`` for which the float32 scaling iterations are used.

    Table entries lie in ``[exp(-R/eps), exp(R/eps)]``; each sum has a term
    ``>= exp(-R/eps)`` and at most ``max(rows, cols)`` terms ``<= exp(R/eps)``; float32 spans
    ``exp(-87.3)`` to ``exp(88.7)`` (one nat of margin kept). Beyond about ``R / eps = 70``
    products of an underflowed scaling and a large table entry start to matter, hence the cap
    :data:`FLOAT32_LIMIT`.
    """
    return min(FLOAT32_LIMIT, 87.7 - math.log(max(rows, cols, 1)))


def disc_offsets(radius: float, device: torch.device | str) -> torch.Tensor:
    """``(S, 2)`` long offsets ``(dy, dx)`` with ``dy^2 + dx^2 <= radius^2``, row-major."""
    r = int(math.floor(radius))
    d = torch.arange(-r, r + 1, device=device)
    dy, dx = torch.meshgrid(d, d, indexing="ij")
    keep = (dy * dy + dx * dx) <= radius * radius + 1e-9
    return torch.stack([dy[keep], dx[keep]], dim=1)


def round_radius(r: float) -> float:
    """Round a support radius up to a half pixel (fewer distinct shapes across batches)."""
    return max(1.0, math.ceil(2.0 * r + 1e-6) / 2.0)


def folded_extent(grid: tuple[int, int]) -> tuple[int, int]:
    """``(hy, hx) = (ceil(H/2), ceil(W/2))``: folded anchors lie in ``[0, hy) x [0, hx)``."""
    return (grid[0] + 1) // 2, (grid[1] + 1) // 2


def canvas_positions(grid: tuple[int, int], device: torch.device | str) -> torch.Tensor:
    """``(Cy * Cx, 2)`` float64 relative positions ``t`` of the folded canvas, row-major:
    ``t_y in [-(hy-1), H-1]``, ``t_x in [-(hx-1), W-1]`` (:func:`folded_extent`)."""
    (h, w), (hy, hx) = grid, folded_extent(grid)
    ty = torch.arange(-(hy - 1), h, dtype=torch.float64, device=device)
    tx = torch.arange(-(hx - 1), w, dtype=torch.float64, device=device)
    return torch.stack(torch.meshgrid(ty, tx, indexing="ij"), dim=-1).reshape(-1, 2)


def disc_table(
    grid: tuple[int, int],
    radius: float,
    eps: float,
    kind: str,
    dtype: torch.dtype,
    device: torch.device | str,
    scale: float = 0.0,
) -> torch.Tensor:
    """``(Cy * Cx, S)`` shifted kernel ``exp(-scale) Khat`` (``kind="kernel"``) or
    ``exp(-scale) Khat * C`` (``"cost"``) over the folded canvas (:func:`canvas_positions`)
    and the disc (:func:`disc_offsets`)."""
    t = canvas_positions(grid, device)
    off = disc_offsets(radius, device).to(torch.float64)
    dist = torch.cdist(t, off)  # (C, S) |t - s|
    log_k = (t.norm(dim=1, keepdim=True) - dist) / eps - scale
    out = torch.exp(log_k)
    if kind == "cost":
        out = out * dist
    elif kind != "kernel":
        raise ValueError(f"unknown table kind {kind!r}")
    return out.to(dtype)


def fold_index(grid: tuple[int, int], device: torch.device | str) -> dict[str, torch.Tensor]:
    """Index tables of the folded canvas, one row per possible anchor (flat index ``f``).

    Each pair is reflected (in its indices only) so that its anchor lies in the top-left
    quadrant: ``sy = -1`` if ``ay >= hy`` else ``1`` (same for x), and pixel ``(y, x)`` reads
    canvas position ``t = (sy (y - ay), sx (x - ax))``. The Euclidean cost and the disc are
    symmetric under these reflections, so the problem is unchanged; the canvas shrinks from
    ``(2H-1)(2W-1)`` to ``(H + hy - 1)(W + hx - 1)`` rows.

    Returns ``cls: (H*W,)`` the reflection class ``2 [ay >= hy] + [ax >= hx]`` of each anchor,
    ``base: (4, H*W)`` the canvas row of each pixel for an anchor at the origin of each class,
    ``shift: (H*W,)`` what an anchor subtracts from ``base`` (row = ``base[cls] - shift``) and
    ``norm: (Cy*Cx,)`` float64 ``|t|`` of each canvas row (``norm32``: the same in float32).
    """
    (h, w), (hy, hx) = grid, folded_extent(grid)
    cw = w + hx - 1
    ys = torch.arange(h, device=device)[:, None]
    xs = torch.arange(w, device=device)[None, :]
    fy, fx = (ys >= hy).long(), (xs >= hx).long()
    sy, sx = 1 - 2 * fy, 1 - 2 * fx
    cls = (2 * fy + fx).reshape(-1)
    shift = (sy * ys * cw + sx * xs).reshape(-1)
    base = torch.stack(
        [
            ((1 - 2 * ky) * ys + hy - 1) * cw + (1 - 2 * kx) * xs + hx - 1
            for ky in (0, 1)
            for kx in (0, 1)
        ]
    ).reshape(4, h * w)
    norm = canvas_positions(grid, device).norm(dim=1)
    return {"cls": cls, "base": base, "shift": shift, "norm": norm, "norm32": norm.float()}


def disc_index(
    grid: tuple[int, int], radius: float, device: torch.device | str
) -> dict[str, torch.Tensor]:
    """Index tables of the target disc in the map padded by ``r = floor(radius)`` pixels.

    Column ``j`` of a pair with anchor ``f`` (flat) and reflection class ``k`` reads the padded
    pixel ``anchor[f] + offset[k, j]``: the anchor plus the ``j``-th disc offset, reflected like
    the pair (:func:`fold_index`). Disc pixels outside the map fall in the zero padding.
    """
    h, w = grid
    r = int(math.floor(radius))
    wp = w + 2 * r
    off = disc_offsets(radius, device)
    dy, dx = off[:, 0], off[:, 1]
    offset = torch.stack([ky * dy * wp + kx * dx for ky in (1, -1) for kx in (1, -1)])
    ys = torch.arange(h, device=device)[:, None]
    xs = torch.arange(w, device=device)[None, :]
    anchor = ((ys + r) * wp + xs + r).reshape(-1)
    return {"offset": offset, "anchor": anchor}


class _Tables:
    """Kernel and index tables through a :class:`KernelCache` (built once per geometry)."""

    def __init__(self, cache: KernelCache, grid, dtype, device) -> None:
        self.cache, self.grid, self.dtype, self.device = cache, grid, dtype, device

    def get(self, radius: float, eps: float, kind: str = "kernel", scale: float = 0.0):
        """The table of :func:`disc_table`; ``kind`` ending in ``"_t"``: its transpose
        (contiguous: the products of the f-update read it row-major)."""
        key = ("disc", self.grid, radius, float(eps), self.dtype, str(self.device), kind, scale)
        if kind.endswith("_t"):
            build = lambda: self.get(radius, eps, kind[:-2], scale).T.contiguous()  # noqa: E731
        else:
            build = lambda: disc_table(  # noqa: E731
                self.grid, radius, eps, kind, self.dtype, self.device, scale
            )
        return self.cache.lookup(key, build)

    def fold(self) -> dict[str, torch.Tensor]:
        key = ("fold", self.grid, str(self.device))
        return self.cache.lookup(key, lambda: fold_index(self.grid, self.device))

    def disc(self, radius: float) -> dict[str, torch.Tensor]:
        key = ("disc-index", self.grid, radius, str(self.device))
        return self.cache.lookup(key, lambda: disc_index(self.grid, radius, self.device))


@dataclass
class Geometry:
    """Where each target lies on the folded canvas (:func:`target_geometry`).

    Attributes:
        anchor: ``(P,)`` flat arg-max pixel of each target. cls: ``(P,)`` its reflection class.
        rows: ``(P, H*W)`` canvas row of each pixel. rho: ``(P, H*W)`` distance of each pixel
        to its anchor. radius: the disc radius ``R`` in pixels.
    """

    anchor: torch.Tensor
    cls: torch.Tensor
    rows: torch.Tensor
    rho: torch.Tensor
    radius: float


def target_geometry(
    b: torch.Tensor, opts, cache: KernelCache, anchor: torch.Tensor | None = None
) -> Geometry:
    """Anchors, canvas rows and the disc radius of the targets ``b: (P, H, W)``.

    ``anchor``: ``(P,)`` flat pixels to centre the discs on (default: each target's arg-max).

    ``R`` is ``opts.radius`` when given, else the largest distance from an anchor to a pixel
    with ``b > threshold * max(b)``, rounded up to half a pixel: the one host read of the setup.
    """
    p, h, w = b.shape
    fold = _Tables(cache, (h, w), None, b.device).fold()
    b_flat = b.reshape(p, h * w)
    anchor = b_flat.argmax(dim=1) if anchor is None else anchor
    cls = fold["cls"][anchor]
    rows = fold["base"][cls] - fold["shift"][anchor][:, None]
    rho = fold["norm" if b.dtype == torch.float64 else "norm32"][rows]
    if opts.radius is not None:
        radius = float(opts.radius)
    else:
        support = b_flat > opts.threshold * b_flat.amax(dim=1, keepdim=True)
        radius = round_radius((rho * support).amax().item())
    return Geometry(anchor, cls, rows, rho, radius)


def uses_float32(geometry: Geometry, grid: tuple[int, int], eps: float, cache: KernelCache) -> bool:
    """Whether float32 holds the fixed backend's iteration for this geometry and ``eps``."""
    disc = _Tables(cache, grid, None, geometry.rows.device).disc(geometry.radius)
    return geometry.radius / eps <= float32_limit(grid[0] * grid[1], disc["offset"].shape[1])


def solve_fixed(
    a: torch.Tensor,
    b: torch.Tensor,
    opts,
    cache: KernelCache,
    allow_float32: bool,
    anchor: torch.Tensor | None = None,
):
    """Run the fixed-shape solver. ``a, b: (P, H, W)`` normalised; returns a dict of results.
    ``anchor``: see :func:`target_geometry`.

    ``opts`` is a :class:`otmark.ot.SinkhornOptions`. The precision is float32 for float32
    inputs when ``allow_float32`` and ``R / eps`` is within :func:`float32_limit`, else float64.
    """
    p, h, w = a.shape
    n = h * w
    tables = _Tables(cache, (h, w), None, a.device)
    geo = target_geometry(b, opts, cache, anchor)
    anchor, cls, rows, rho, radius = geo.anchor, geo.cls, geo.rows, geo.rho, geo.radius
    disc = tables.disc(radius)
    columns = disc["offset"].shape[1]
    f32 = allow_float32 and a.dtype == torch.float32 and uses_float32(geo, (h, w), opts.eps, cache)
    dtype = torch.float32 if f32 else torch.float64
    tables.dtype = dtype
    # the target on the disc around its anchor (zero outside the map), renormalised
    r = int(math.floor(radius))
    cols = disc["anchor"][anchor][:, None] + disc["offset"][cls]  # (P, S) in the padded map
    b_disc = F.pad(b, (r, r, r, r)).reshape(p, -1).gather(1, cols).to(dtype)
    b_disc = b_disc / b_disc.sum(dim=1, keepdim=True)
    a_flat = a.reshape(p, n).to(dtype)
    rho = rho.to(dtype)
    # the weights' exponents, shifted by -max(log a) + c (see g_update and f_update)
    scale = headroom(radius / opts.eps)
    log_a = log0(a_flat)
    max_log_a = log_a.amax(dim=1, keepdim=True)
    offset = scale - max_log_a
    log_a, log_b = log_a + offset, log0(b_disc) + offset
    canvas = torch.zeros(p, tables.fold()["norm"].shape[0], dtype=dtype, device=a.device)

    def marginal_error(x_old, x_new):
        # L1 error of the source marginal of the plan (x_old, y) whose update is x_new: (P, 1)
        return (a_flat * torch.expm1(x_new - x_old).abs()).sum(dim=1, keepdim=True)

    diameter = math.hypot(h - 1, w - 1)
    schedule = [opts.eps]
    while schedule[-1] < min(diameter, opts.eps_start):
        schedule.append(schedule[-1] / opts.scaling)
    schedule = schedule[::-1]
    # start from f = rho (x = 0): the distance to the anchor, close to the distance to the target
    x = None
    for e, e_next in zip(schedule[:-1], schedule[1:]):
        table = tables.get(radius, e, "kernel", scale)
        if x is None:  # g_update at x = 0
            y = torch.log(canvas.scatter(1, rows, torch.exp(log_a)) @ table)
        else:
            y = g_update(x, log_a, rows, table, canvas)
        x = f_update(y, log_b, rows, tables.get(radius, e, "kernel_t", scale))[0] * (e / e_next)
    eps = opts.eps
    table = tables.get(radius, eps, "kernel", scale)
    table_t = tables.get(radius, eps, "kernel_t", scale)
    if x is None:
        x = torch.zeros_like(rho)
    y = g_update(x, log_a, rows, table, canvas)
    omega = torch.full((p, 1), float(opts.overrelax), dtype=dtype, device=a.device)
    plain = torch.ones_like(omega)
    previous = torch.full((p, 1), float("inf"), dtype=dtype, device=a.device)
    iterations = max(opts.iterations, 1)
    for k in range(iterations):
        x_old = x
        x, y, x_new, v, kv = relaxed_iteration(
            x, y, omega, log_a, log_b, rows, table, table_t, canvas
        )
        last = k + 1 == iterations
        if last or (opts.overrelax != 1.0 and (k + 1) % opts.check_every == 0):
            err = marginal_error(x_old, x_new)
            if not last:  # a pair whose error grew falls back to plain Sinkhorn (NaN: grew)
                omega = torch.where(err <= previous, omega, plain)
                previous = 2.0 * err
    # the plan (x_new, y): exact source marginal, its K v reused by the transport cost
    num = (v @ tables.get(radius, eps, "cost_t", scale)).gather(1, rows)
    cost = (a_flat * num / kv).sum(dim=1)
    f = rho - eps * x_new
    g = (y + max_log_a) * -eps  # y is stored minus max(log a)
    entropic = (a_flat * f).sum(dim=1) + (b_disc * g).sum(dim=1)
    g_pad = torch.zeros(p, h + 2 * r, w + 2 * r, dtype=dtype, device=a.device)
    g_grid = g_pad.reshape(p, -1).scatter(1, cols, g).reshape(p, h + 2 * r, w + 2 * r)
    iterations = len(schedule) + iterations
    return {
        "f": f.reshape(p, h, w),
        "g": g_grid[:, r : r + h, r : r + w],
        "entropic": entropic,
        "cost": cost,
        "marginal_error": err[:, 0],
        "iterations": iterations,
        "radius": radius,
        "columns": columns,
    }
