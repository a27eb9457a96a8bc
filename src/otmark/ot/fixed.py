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

    Khat[t, s] = exp((|t| - |t - s|) / eps),     t = x - anchor in [-(H-1), H-1] x [-(W-1), W-1],

so one table over the ``(2H-1)(2W-1)`` relative positions serves all pairs; each pair reads its
``H * W`` rows through a fixed-shape index (one padded batched product, no buckets). Entries lie
in ``[exp(-R/eps), exp(R/eps)]``: float32 holds them while ``R / eps`` stays below
:func:`float32_limit`.

Iterations: one per value of the eps schedule (halving down to eps), then ``iterations`` at the
final eps, over-relaxed with weight ``overrelax``; every ``check_every`` iterations the marginal
error of each pair is compared on the device with the previous check and the pair falls back to
plain Sinkhorn (weight 1) if it grew. The last update is a plain f-update, so the plan's source
marginal is exact; its ``K v`` serves the transport cost as well.
"""

from __future__ import annotations

import math

import torch

from otmark.ot.kernels import KernelCache

# Potentials are kept in units of eps and negated: ``x = -phi / eps`` (grid, shifted by the
# distance to the anchor) and ``y = -g / eps`` (target disc), so that an update is a sum, a
# max-shift, an exponential, one matrix product and a log, with eps out of the loop.


def g_update(x, log_a, rows, table, canvas):
    """``y_j = log sum_i Khat_ij a_i exp(-x_i)`` (max-shifted). ``x, log_a, rows: (P, n)``,
    ``table: (canvas, S)``, ``canvas``: a ``(P, canvas)`` zero tensor -> ``(P, S)``."""
    t = log_a - x
    m = t.amax(dim=1, keepdim=True)
    u = torch.exp(t - m)
    return m + torch.log(canvas.scatter(1, rows, u) @ table)


def f_update(y, log_b, rows, table_t):
    """``x_i = log sum_j Khat_ij b_j exp(-y_j)`` (max-shifted); also returns ``v`` and the sums
    ``K v`` (reused by the transport cost). ``y: (P, S)``, ``table_t: (S, canvas)`` -> ``(P, n)``.
    """
    t = log_b - y
    m = t.amax(dim=1, keepdim=True)
    v = torch.exp(t - m)
    kv = (v @ table_t).gather(1, rows)
    return m + torch.log(kv), v, kv


def relaxed_iteration(x, y, omega, log_a, log_b, rows, table, table_t, canvas):
    """One over-relaxed Sinkhorn iteration (``omega: (P, 1)``, 1 = plain); returns the new
    ``(x, y)`` and the un-relaxed ``x`` update. Fixed shapes, no host synchronisation, no
    Python scalar that changes between iterations: it compiles with
    ``torch.compile(fullgraph=True)``."""
    y = torch.lerp(y, g_update(x, log_a, rows, table, canvas), omega)
    x_new = f_update(y, log_b, rows, table_t)[0]
    return torch.lerp(x, x_new, omega), y, x_new


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


def anchors_of(b: torch.Tensor) -> torch.Tensor:
    """``b: (P, H, W)`` -> ``(P, 2)`` long: the arg-max pixel ``(y, x)`` of each target."""
    p, h, w = b.shape
    flat = b.reshape(p, h * w).argmax(dim=1)
    return torch.stack([torch.div(flat, w, rounding_mode="floor"), flat % w], dim=1)


def support_radius(b: torch.Tensor, anchors: torch.Tensor, threshold: float) -> torch.Tensor:
    """0-dim tensor: largest distance from an anchor to a pixel with ``b > threshold * max(b)``."""
    p, h, w = b.shape
    peak = b.reshape(p, -1).amax(dim=1)
    support = b > (threshold * peak)[:, None, None]
    ys = torch.arange(h, device=b.device, dtype=torch.float32)
    xs = torch.arange(w, device=b.device, dtype=torch.float32)
    dy = ys[None, :, None] - anchors[:, 0, None, None].float()
    dx = xs[None, None, :] - anchors[:, 1, None, None].float()
    dist = torch.sqrt(dy * dy + dx * dx)
    return torch.where(support, dist, torch.zeros_like(dist)).amax()


def round_radius(r: float) -> float:
    """Round a support radius up to a half pixel (fewer distinct shapes across batches)."""
    return max(1.0, math.ceil(2.0 * r + 1e-6) / 2.0)


def disc_table(
    grid: tuple[int, int],
    radius: float,
    eps: float,
    kind: str,
    dtype: torch.dtype,
    device: torch.device | str,
) -> torch.Tensor:
    """``((2H-1)(2W-1), S)`` shifted kernel (``kind="kernel"``) or ``Khat * C`` (``"cost"``)."""
    h, w = grid
    off = disc_offsets(radius, device).to(torch.float64)
    ty = torch.arange(-(h - 1), h, dtype=torch.float64, device=device)
    tx = torch.arange(-(w - 1), w, dtype=torch.float64, device=device)
    t = torch.stack(torch.meshgrid(ty, tx, indexing="ij"), dim=-1).reshape(-1, 2)
    dist = torch.cdist(t, off)  # (R, S) |t - s|
    log_k = (t.norm(dim=1, keepdim=True) - dist) / eps
    out = torch.exp(log_k)
    if kind == "cost":
        out = out * dist
    elif kind != "kernel":
        raise ValueError(f"unknown table kind {kind!r}")
    return out.to(dtype)


class _Tables:
    """Kernel tables through a :class:`KernelCache` (keyed like the bucketed backend's)."""

    def __init__(self, cache: KernelCache, grid, radius, dtype, device) -> None:
        self.cache, self.grid, self.radius, self.dtype, self.device = (
            cache,
            grid,
            radius,
            dtype,
            device,
        )

    def get(self, eps: float, kind: str = "kernel") -> torch.Tensor:
        key = ("disc", self.grid, self.radius, float(eps), self.dtype, str(self.device), kind)
        return self.cache.lookup(
            key,
            lambda: disc_table(self.grid, self.radius, eps, kind, self.dtype, self.device),
        )


def solve_fixed(a: torch.Tensor, b: torch.Tensor, opts, cache: KernelCache, allow_float32: bool):
    """Run the fixed-shape solver. ``a, b: (P, H, W)`` normalised; returns a dict of results.

    ``opts`` is a :class:`otmark.ot.SinkhornOptions`. The precision is float32 for float32
    inputs when ``allow_float32`` and ``R / eps`` is within :func:`float32_limit`, else float64.
    """
    p, h, w = a.shape
    dev = a.device
    anchors = anchors_of(b)
    if opts.radius is not None:
        radius = float(opts.radius)
    else:
        radius = round_radius(support_radius(b, anchors, opts.threshold).item())  # host read
    off = disc_offsets(radius, dev)  # (S, 2)
    n = h * w
    limit = float32_limit(n, off.shape[0])
    f32 = allow_float32 and a.dtype == torch.float32 and radius / opts.eps <= limit
    dtype = torch.float32 if f32 else torch.float64
    # row of each grid pixel in the canvas table, per pair: (P, n)
    iy = torch.arange(h, device=dev)[None, :, None] - anchors[:, 0, None, None] + (h - 1)
    ix = torch.arange(w, device=dev)[None, None, :] - anchors[:, 1, None, None] + (w - 1)
    rows = (iy * (2 * w - 1) + ix).reshape(p, n)
    # the target on the disc around its anchor (zero outside the map), renormalised
    py = anchors[:, 0, None] + off[None, :, 0]
    px = anchors[:, 1, None] + off[None, :, 1]
    inside = (py >= 0) & (py < h) & (px >= 0) & (px < w)
    cols = (py.clamp(0, h - 1) * w + px.clamp(0, w - 1)).reshape(p, -1)
    b_disc = b.reshape(p, n).gather(1, cols) * inside
    b_disc = b_disc / b_disc.sum(dim=1, keepdim=True)
    a_flat = a.reshape(p, n).to(dtype)
    b_disc = b_disc.to(dtype)
    # distance of every grid pixel to its anchor (the row factor carried by the potential)
    rho = torch.sqrt(((iy - (h - 1)) ** 2).to(dtype) + ((ix - (w - 1)) ** 2).to(dtype)).reshape(
        p, n
    )
    log_a, log_b = torch.log(a_flat), torch.log(b_disc)
    tables = _Tables(cache, (h, w), radius, dtype, dev)
    canvas = torch.zeros(p, (2 * h - 1) * (2 * w - 1), dtype=dtype, device=dev)

    def marginal_error(x_old, x_new):
        return (a_flat * torch.expm1(x_new - x_old).abs()).sum(dim=1)

    diameter = math.hypot(h - 1, w - 1)
    schedule = [opts.eps]
    while schedule[-1] < min(diameter, opts.eps_start):
        schedule.append(schedule[-1] / opts.scaling)
    schedule = schedule[::-1]
    x = rho / schedule[0]  # f = 0
    for e, e_next in zip(schedule[:-1], schedule[1:]):
        table = tables.get(e)
        y = g_update(x, log_a, rows, table, canvas)
        x = f_update(y, log_b, rows, table.T)[0] * (e / e_next)
    eps = opts.eps
    table = tables.get(eps)
    table_t = table.T
    y = g_update(x, log_a, rows, table, canvas)
    omega = torch.full((p, 1), float(opts.overrelax), dtype=dtype, device=dev)
    previous = torch.full((p,), float("inf"), dtype=dtype, device=dev)
    for k in range(opts.iterations):
        x_old = x
        x, y, x_new = relaxed_iteration(x, y, omega, log_a, log_b, rows, table, table_t, canvas)
        if opts.overrelax != 1.0 and (k + 1) % opts.check_every == 0:
            err = marginal_error(x_old, x_new)
            grew = ~(err <= 2.0 * previous)  # NaN counts as growth
            omega = torch.where(grew[:, None], 1.0, omega)
            previous = err
    x_final, v, kv = f_update(y, log_b, rows, table_t)
    err = marginal_error(x, x_final)
    num = (v @ tables.get(eps, "cost").T).gather(1, rows)
    cost = (a_flat * num / kv).sum(dim=1)
    f = rho - eps * x_final
    g = -eps * y
    entropic = (a_flat * f).sum(dim=1) + (b_disc * g).sum(dim=1)
    g_grid = torch.zeros(p, n, dtype=dtype, device=dev).scatter_add_(1, cols, g * inside)
    iterations = len(schedule) + opts.iterations
    return {
        "f": f.reshape(p, h, w),
        "g": g_grid.reshape(p, h, w),
        "entropic": entropic,
        "cost": cost,
        "marginal_error": err,
        "iterations": iterations,
        "radius": radius,
        "columns": off.shape[0],
    }
