"""The fixed-shape backend, the precision policy and the eps default, against references."""

import numpy as np
import ot
import pytest
import torch
from ot_reference import grid_cost, random_pair

import otmark.ot.fixed as fixed
import otmark.ot.sinkhorn as sinkhorn_mod
from otmark.heatmaps import render_gaussian
from otmark.losses import create_loss
from otmark.ot import DEFAULT_EPS, SinkhornOptions, sinkhorn2d, wasserstein2d
from otmark.ot.counting import DispatchCounter


@pytest.mark.parametrize("kind", ["rand", "peaked"])
def test_fixed_backend_matches_pot_entropic_solver(kind, cost16):
    a, b = random_pair(16, 1.5, kind, seed=11, count=3)
    eps = 0.5
    res = sinkhorn2d(a.float(), b.float(), SinkhornOptions(eps=eps, backend="fixed"))
    assert res.backends == ["fixed-float32"]
    for i in range(3):
        an, bn = a[i].reshape(-1).numpy(), b[i].reshape(-1).numpy()
        plan = ot.sinkhorn(
            an, bn, cost16, eps, method="sinkhorn_log", numItermax=100000, stopThr=1e-13
        )
        assert res.cost[i].item() == pytest.approx((plan * cost16).sum(), rel=2e-4)


def test_fixed_and_bucketed_backends_agree_with_border_targets():
    n = 24
    g = torch.Generator().manual_seed(12)
    centres = torch.tensor([[[0.3, 0.2]], [[23.0, 11.0]], [[12.5, 23.6]], [[-1.0, 5.0]]])
    b = render_gaussian(centres, n, 2.0, normalize=True)[:, 0]  # clipped by the border
    a = torch.softmax(torch.randn(4, n * n, generator=g), -1).reshape(4, n, n)
    ref = sinkhorn2d(a.double(), b.double(), SinkhornOptions(eps=0.3, tol=1e-9, max_iter=3000))
    res = sinkhorn2d(a, b, SinkhornOptions(eps=0.3, backend="fixed", iterations=60))
    assert torch.allclose(res.cost.double(), ref.cost, rtol=2e-4)
    assert torch.allclose(res.entropic.double(), ref.entropic, rtol=2e-4)
    # the potentials agree up to the constant of the dual problem
    df = (res.f.double() - ref.f).flatten(1)
    assert (df - df.mean(1, keepdim=True)).abs().max() < 1e-3


def test_default_eps_is_one_value_used_everywhere():
    assert SinkhornOptions().eps == DEFAULT_EPS
    assert create_loss("wasserstein").eps == DEFAULT_EPS
    a, b = random_pair(12, 1.0, "peaked", seed=13)
    assert wasserstein2d(a, b).item() == wasserstein2d(a, b, eps=DEFAULT_EPS).item()


def _accuracy_pairs(n):
    """rand, peaked and very concentrated predictions against sigma 1 / 1.5 / 3 targets."""
    pairs = []
    for sigma in (1.0, 1.5, 3.0):
        for kind in ("rand", "peaked"):
            pairs.append(random_pair(n, sigma, kind, seed=20 + int(2 * sigma), count=3))
    g = torch.Generator().manual_seed(n)
    c = n / 4 + torch.rand(4, 1, 2, generator=g, dtype=torch.float64) * (n / 2)
    b = render_gaussian(c, n, 1.0, normalize=True)[:, 0]
    shift = torch.tensor([1.6, 1.2], dtype=torch.float64)  # 2 px away
    a = render_gaussian(c + shift, n, 0.7, normalize=True, truncate=None)[:, 0]
    pairs.append((a, b))
    return pairs


@pytest.mark.parametrize("n", [16, 32])
@pytest.mark.parametrize("backend", ["bucketed", "fixed"])
def test_default_eps_within_3_percent_of_exact_w1(n, backend):
    cost = grid_cost(n, n)
    checked = 0
    for a, b in _accuracy_pairs(n):
        w = wasserstein2d(a.float(), b.float(), options=SinkhornOptions(backend=backend))
        for i in range(len(a)):
            exact = ot.emd2(a[i].reshape(-1).numpy(), b[i].reshape(-1).numpy(), cost)
            if exact >= 2.0:
                checked += 1
                assert abs(w[i].item() - exact) / exact <= 0.03, (i, exact, w[i].item())
                # bias model: the cost exceeds W1 by about eps / 2 at most
                assert -1e-4 <= w[i].item() - exact <= 0.6 * DEFAULT_EPS
    assert checked >= 10


def test_unconverged_solve_warns_once_with_the_marginal_error(monkeypatch):
    monkeypatch.setattr(sinkhorn_mod, "_WARNED", set())
    a, b = random_pair(16, 1.5, "peaked", seed=14, count=2)
    opts = SinkhornOptions(backend="fixed", iterations=0)
    with pytest.warns(RuntimeWarning, match=r"marginal error [0-9.e+-]+ on average"):
        sinkhorn2d(a.float(), b.float(), opts)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sinkhorn2d(a.float(), b.float(), opts)  # once per process: silent now
    monkeypatch.setattr(sinkhorn_mod, "_WARNED", set())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sinkhorn2d(a.float(), b.float(), SinkhornOptions(backend="fixed"))  # converged


def test_float64_on_a_gpu_is_never_silent(monkeypatch):
    monkeypatch.setattr(sinkhorn_mod, "_WARNED", set())
    with pytest.warns(RuntimeWarning, match="float64 on cuda"):
        sinkhorn_mod._check_precision(torch.float64, torch.device("cuda"), 0.01)
    import warnings

    monkeypatch.setattr(sinkhorn_mod, "_WARNED", set())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sinkhorn_mod._check_precision(torch.float64, torch.device("cpu"), 0.01)
        sinkhorn_mod._check_precision(torch.float32, torch.device("cuda"), 0.15)


def test_precision_falls_back_to_float64_only_beyond_the_float32_range():
    a, b = random_pair(16, 1.5, "peaked", seed=15)
    r32 = sinkhorn2d(a.float(), b.float(), SinkhornOptions(eps=0.15, backend="fixed"))
    assert r32.backends == ["fixed-float32"]  # disc radius about 5 px: R / eps about 33
    r64 = sinkhorn2d(a.float(), b.float(), SinkhornOptions(eps=0.05, backend="fixed"))
    assert r64.backends == ["fixed-float64"]  # R / eps about 100: beyond exp(+-87)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_autocast_gives_the_float32_value(dtype):
    torch.manual_seed(16)
    n = 16
    target = render_gaussian(torch.rand(2, 3, 2) * 10 + 3, n, 1.5)
    logits = torch.randn(2, 3, n, n)
    for backend in ("bucketed", "fixed"):
        loss = create_loss("wasserstein", backend=backend)
        x = logits.clone().requires_grad_(True)
        ref = loss(x, target)
        ref.backward()
        y = logits.clone().requires_grad_(True)
        with torch.autocast("cpu", dtype=dtype):
            val = loss(y, target)
        assert val.dtype == torch.float32
        assert val.item() == pytest.approx(ref.item(), rel=1e-5)
        val.backward()
        assert torch.allclose(y.grad, x.grad, rtol=1e-4, atol=1e-7)
        # a half-precision prediction (the model's output under autocast) is solved in float32:
        # the value is that of the rounded logits, computed in float32
        half = logits.to(dtype)
        assert loss(half, target).item() == pytest.approx(
            loss(half.float(), target).item(), rel=1e-5
        )


def _tf32(x):
    """Round float32 to TF32 (10 explicit mantissa bits, round to nearest)."""
    i = x.contiguous().view(torch.int32)
    i = (i + 0x1000) & ~0x1FFF
    return i.view(torch.float32)


def test_accuracy_holds_with_tf32_matmuls(monkeypatch):
    """TF32 tensor cores round matmul inputs to 10 mantissa bits: emulated on the CPU."""
    assert _tf32(torch.tensor([1.0 + 2**-11 + 2**-13])).item() == 1.0 + 2**-10
    logits = torch.randn(2, 4, 32, 32, generator=torch.Generator().manual_seed(17))
    target = render_gaussian(torch.rand(2, 4, 2) * 20 + 6, 32, 2.0)
    loss = create_loss("wasserstein", backend="fixed")
    x = logits.clone().requires_grad_(True)
    ref = loss(x, target)
    ref.backward()
    real_g, real_f = fixed.g_update, fixed.f_update

    def g_tf32(x_, log_a, rows, table, canvas):
        return real_g(x_, log_a, rows, _tf32(table), canvas)

    def f_tf32(y, log_b, rows, table_t):
        return real_f(y, log_b, rows, _tf32(table_t.contiguous()))

    for name, fn in (("g_update", g_tf32), ("f_update", f_tf32)):
        monkeypatch.setattr(fixed, name, fn)
    monkeypatch.setattr(torch.Tensor, "__matmul__", lambda s, o: torch.matmul(_tf32(s), o))
    y = logits.clone().requires_grad_(True)
    val = loss(y, target)
    monkeypatch.undo()
    val.backward()
    assert val.item() == pytest.approx(ref.item(), rel=1e-3)
    cos = torch.nn.functional.cosine_similarity(y.grad.flatten(), x.grad.flatten(), dim=0)
    assert cos > 0.999


def _loss_counts(pred, target):
    loss = create_loss("wasserstein", backend="fixed")
    loss(pred, target)  # warm the kernel tables
    x = pred.clone().requires_grad_(True)
    with DispatchCounter() as c:
        loss(x, target).backward()
    return c.syncs, c.ops


def test_fixed_backend_syncs_are_few_and_do_not_depend_on_the_data():
    g = torch.Generator().manual_seed(18)
    n, b, k = 32, 2, 5
    target = render_gaussian(torch.rand(b, k, 2, generator=g) * 24 + 4, n, 1.5)
    peaked = 8 * render_gaussian(torch.rand(b, k, 2, generator=g) * 24 + 4, n, 2.0)
    target_empty = target.clone()
    target_empty[0, 1] = 0
    counts = {
        _loss_counts(torch.randn(b, k, n, n, generator=g), target),
        _loss_counts(peaked + torch.randn(b, k, n, n, generator=g), target),
        _loss_counts(torch.randn(b, k, n, n, generator=g), target_empty),
    }
    assert len(counts) == 1  # the same syncs and operators whatever the data
    syncs, ops = counts.pop()
    assert syncs <= 4
    assert ops <= 720  # about 650 for the solve, 50 more to form the differences


def test_one_iteration_compiles_without_graph_breaks():
    torch._dynamo.reset()
    g = torch.Generator().manual_seed(19)
    p, n, s, canvas = 3, 36, 9, 121
    x = torch.randn(p, n, generator=g)
    y = torch.randn(p, s, generator=g)
    omega = torch.full((p, 1), 1.6)
    log_a = torch.log_softmax(torch.randn(p, n, generator=g), 1)
    log_b = torch.log_softmax(torch.randn(p, s, generator=g), 1)
    rows = torch.randint(0, canvas, (p, n), generator=g)
    table = torch.rand(canvas, s, generator=g) + 0.1
    zeros = torch.zeros(p, canvas)
    args = (x, y, omega, log_a, log_b, rows, table, table.T, zeros)
    compiled = torch.compile(fixed.relaxed_iteration, fullgraph=True)
    for got, want in zip(compiled(*args), fixed.relaxed_iteration(*args)):
        assert torch.allclose(got, want, rtol=1e-5, atol=1e-5)


def test_dispatch_counter_sees_host_synchronisations():
    t = torch.arange(4.0)
    with DispatchCounter() as c:
        t.sum().item()
        torch.nonzero(t)
        bool(t[0] > 0)
    assert c.syncs == 3 and c.ops > 3
    assert np.isfinite(c.ops)


def test_dispatch_counter_counts_matrix_product_flops():
    with DispatchCounter() as c:
        torch.ones(3, 4) @ torch.ones(4, 5)  # 3 * 5 sums of 4 products: 2 * 60 flops
        torch.bmm(torch.ones(2, 3, 4), torch.ones(2, 4, 6))  # 2 * 2 * 72
        torch.addmm(torch.zeros(3, 5), torch.ones(3, 4), torch.ones(4, 5))  # 2 * 60
        torch.ones(3, 4) + 1  # not a product
    assert c.matmul_flops == 120 + 288 + 120


def test_folded_canvas_reads_each_pixel_relative_to_its_reflected_anchor():
    h, w = 7, 6
    t = fixed.canvas_positions((h, w), "cpu")
    assert t.shape == ((h + 4 - 1) * (w + 3 - 1), 2)  # not (2H-1)(2W-1)
    idx = fixed.fold_index((h, w), "cpu")
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    for anchor in range(h * w):
        ay, ax = divmod(anchor, w)
        sy = -1 if ay >= 4 else 1  # anchors in the lower half are reflected ...
        sx = -1 if ax >= 3 else 1  # ... and in the right half
        rows = idx["base"][idx["cls"][anchor]] - idx["shift"][anchor]
        expect = torch.stack([sy * (ys - ay), sx * (xs - ax)], -1).reshape(-1, 2).double()
        assert torch.equal(t[rows], expect), anchor
        assert torch.allclose(idx["norm"][rows], expect.norm(dim=1))


def test_fixed_backend_matches_pot_on_a_non_square_map_in_every_quadrant():
    h, w = 15, 12
    centres = torch.tensor([[[2.5, 3.0]], [[9.4, 2.2]], [[1.0, 11.6]], [[10.2, 12.9]]])  # (x, y)
    b = render_gaussian(centres.double(), (h, w), 1.5, normalize=True)[:, 0]
    g = torch.Generator().manual_seed(21)
    a = torch.softmax(torch.randn(4, h * w, generator=g, dtype=torch.float64), -1)
    a = a.reshape(4, h, w)
    anchors = b.flatten(1).argmax(1)
    quadrants = {(int(q // w >= 8), int(q % w >= 6)) for q in anchors.tolist()}
    assert quadrants == {(0, 0), (0, 1), (1, 0), (1, 1)}
    eps = 0.5
    res = sinkhorn2d(a, b, SinkhornOptions(eps=eps, backend="fixed", iterations=200))
    cost = grid_cost(h, w)
    for i in range(4):
        an, bn = a[i].reshape(-1).numpy(), b[i].reshape(-1).numpy()
        plan = ot.sinkhorn(
            an, bn, cost, eps, method="sinkhorn_log", numItermax=100000, stopThr=1e-13
        )
        assert res.cost[i].item() == pytest.approx((plan * cost).sum(), rel=1e-7)


def test_float32_matches_float64_where_the_weights_span_beyond_float32():
    """16x16 maps, sigma 3 targets at eps 0.15: R / eps = 63 and the weights of a converged
    update span more than float32's exponent range below their largest value; without the
    headroom of the scaled tables the float32 solve stalled 0.1-1 % away from the float64 one."""
    a, b = random_pair(16, 3.0, "peaked", seed=4, count=4)
    opts = SinkhornOptions(backend="fixed", iterations=100)
    r32 = sinkhorn2d(a.float(), b.float(), opts)
    r64 = sinkhorn2d(a, b, opts)
    assert r32.backends == ["fixed-float32"] and r64.backends == ["fixed-float64"]
    assert torch.allclose(r32.cost.double(), r64.cost, rtol=1e-5)
    assert r32.marginal_error.max() < 1e-4
    df = (r32.f.double() - r64.f).flatten(1)
    assert (df - df.mean(1, keepdim=True)).abs().max() < 1e-4


@pytest.mark.parametrize("backend", ["bucketed", "fixed"])
def test_sigma_3_targets_are_solved_in_float32(backend):
    """R / eps = 63 at the default eps: both backends stay in float32 (the headroom of the
    scaled tables), match a tight float64 solve and stay within 3 % of W1."""
    n = 32
    a, b = random_pair(n, 3.0, "peaked", seed=22, count=3)
    res = sinkhorn2d(a.float(), b.float(), SinkhornOptions(backend=backend))
    assert set(res.backends) == ({"fixed-float32"} if backend == "fixed" else {"float32"})
    tight = SinkhornOptions(backend="bucketed", tol=1e-9, max_iter=3000, precision="float64")
    ref = sinkhorn2d(a, b, tight)
    assert torch.allclose(res.cost.double(), ref.cost, rtol=1e-3)
    cost = grid_cost(n, n)
    for i in range(3):
        exact = ot.emd2(a[i].reshape(-1).numpy(), b[i].reshape(-1).numpy(), cost)
        assert abs(res.cost[i].item() - exact) / exact <= 0.03
    if backend == "bucketed":  # converged in float32: the float64 solution to 1e-5
        tight32 = SinkhornOptions(backend="bucketed", tol=2e-5, max_iter=3000)
        r32 = sinkhorn2d(a.float(), b.float(), tight32)
        assert set(r32.backends) == {"float32"}
        assert torch.allclose(r32.cost.double(), ref.cost, rtol=1e-5)


def test_plain_sinkhorn_reports_its_marginal_error(monkeypatch):
    """Without over-relaxation the error is that of the plan before the last f-update (the
    returned plan's source marginal is exact): it shrinks with the iterations, and a short
    solve warns."""
    monkeypatch.setattr(sinkhorn_mod, "_WARNED", set())
    a, b = random_pair(16, 1.5, "rand", seed=23, count=2)
    errors = []
    for iterations in (2, 10, 60):
        opts = SinkhornOptions(backend="fixed", iterations=iterations, overrelax=1.0)
        if iterations == 2:
            with pytest.warns(RuntimeWarning, match="marginal error"):
                res = sinkhorn2d(a.float(), b.float(), opts)
        else:
            res = sinkhorn2d(a.float(), b.float(), opts)
        errors.append(res.marginal_error.max().item())
    assert errors[0] > errors[1] > errors[2] > 0
    assert errors[0] > 2e-2  # above 10 x tol for some map: the warning
