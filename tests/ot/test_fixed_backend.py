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
    assert ops <= 900


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
