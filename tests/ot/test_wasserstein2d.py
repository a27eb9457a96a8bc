"""The 2-D Wasserstein solver against independent references (POT, closed forms, autograd)."""

import numpy as np
import ot
import pytest
import torch
from ot_reference import grid_cost, random_pair

from otmark.heatmaps import render_gaussian
from otmark.ot import KernelCache, SinkhornOptions, sinkhorn2d, wasserstein2d
from otmark.ot.wasserstein import difference_problem, solve_difference_problem

TIGHT = {"tol": 1e-10, "max_iter": 3000}


@pytest.mark.parametrize("kind", ["rand", "peaked"])
@pytest.mark.parametrize("eps", [0.5, 1.0])
def test_matches_pot_entropic_solver(kind, eps, cost16):
    a, b = random_pair(16, 1.5, kind, seed=1, count=2)
    res = sinkhorn2d(a, b, SinkhornOptions(eps=eps, **TIGHT))
    for i in range(2):
        an, bn = a[i].reshape(-1).numpy(), b[i].reshape(-1).numpy()
        plan = ot.sinkhorn(
            an, bn, cost16, eps, method="sinkhorn_log", numItermax=100000, stopThr=1e-13
        )
        cost = (plan * cost16).sum()
        pos = plan > 0
        entropic = cost + eps * (plan[pos] * np.log(plan[pos] / np.outer(an, bn)[pos])).sum()
        assert res.cost[i].item() == pytest.approx(cost, rel=1e-7)
        assert res.entropic[i].item() == pytest.approx(entropic, rel=1e-7)


@pytest.mark.parametrize("n,sigma", [(16, 1.0), (16, 3.0), (32, 1.0), (32, 3.0)])
@pytest.mark.parametrize("kind", ["rand", "peaked"])
def test_close_to_exact_w1_and_bias_shrinks_with_eps(n, sigma, kind):
    a, b = random_pair(n, sigma, kind, seed=2)
    exact = ot.emd2(a[0].reshape(-1).numpy(), b[0].reshape(-1).numpy(), grid_cost(n, n))
    values = [wasserstein2d(a, b, eps=e).item() for e in (1.0, 0.5, 0.25)]
    # the transport cost of a feasible plan is never below the exact optimum ...
    assert all(v >= exact * (1 - 1e-6) for v in values)
    # ... and approaches it as eps decreases
    assert values[0] > values[1] > values[2]
    # the entropic blur costs about eps/2 pixels whatever the pair (an additive bias)
    assert values[2] - exact < 0.6 * 0.25


def test_translate_has_w1_equal_to_translation_length():
    n = 24
    c = torch.tensor([[[9.0, 11.0]]], dtype=torch.float64)
    shift = torch.tensor([4.0, 3.0], dtype=torch.float64)  # length 5, integer: exact translate
    b = render_gaussian(c, n, 1.5, normalize=True)[:, 0]
    a = render_gaussian(c + shift, n, 1.5, normalize=True)[:, 0]
    exact = ot.emd2(a.reshape(-1).numpy(), b.reshape(-1).numpy(), grid_cost(n, n))
    assert exact == pytest.approx(5.0, rel=1e-9)
    w = wasserstein2d(a, b, eps=0.1).item()  # small eps: float64 / log-domain paths
    assert w == pytest.approx(5.0, rel=0.01)


def test_gradcheck_entropic_value_with_implicit_gradient():
    a, b = random_pair(6, 1.0, "rand", seed=3, count=1)
    logits = torch.log(a).requires_grad_(True)
    opts = SinkhornOptions(eps=1.0, **TIGHT)

    def fn(x):
        return wasserstein2d(
            torch.softmax(x.flatten(-2), -1).reshape(x.shape), b, 1.0, "entropic", options=opts
        )

    assert torch.autograd.gradcheck(fn, (logits,), eps=1e-6, atol=1e-6, rtol=1e-4)


def test_gradcheck_unrolled_gradient_of_transport_cost():
    a, b = random_pair(6, 1.0, "rand", seed=4, count=1)
    x = a.clone().requires_grad_(True)
    opts = SinkhornOptions(eps=1.0, tol=0.0, max_iter=20, overrelax=1.0)
    assert torch.autograd.gradcheck(
        lambda t: wasserstein2d(t, b, 1.0, "cost", "unrolled", options=opts),
        (x,),
        eps=1e-6,
        atol=1e-6,
    )


def test_implicit_gradient_is_the_gradient_of_the_entropic_cost():
    a, b = random_pair(16, 1.5, "peaked", seed=5, count=3)
    opts = SinkhornOptions(eps=0.5, tol=1e-9, max_iter=2000, overrelax=1.0)
    grads = {}
    for value, mode in (
        ("entropic", "implicit"),
        ("entropic", "unrolled"),
        ("cost", "implicit"),
        ("cost", "unrolled"),
    ):
        x = torch.log(a).clone().requires_grad_(True)
        p = torch.softmax(x.flatten(-2), -1).reshape(x.shape)
        wasserstein2d(p, b, 0.5, value, mode, options=opts).sum().backward()
        grads[value, mode] = x.grad.flatten()
    exact = grads["entropic", "unrolled"]
    # envelope theorem: the dual potential is the exact gradient of OT_eps at convergence ...
    assert (grads["entropic", "implicit"] - exact).norm() / exact.norm() < 1e-5
    # ... and it is the gradient the default value ("cost") carries, as documented
    assert torch.equal(grads["cost", "implicit"], grads["entropic", "implicit"])
    # it is not the exact gradient of <P, C> (which "unrolled" gives), but points the same way
    true_cost = grads["cost", "unrolled"]
    cos = torch.dot(true_cost, exact) / (true_cost.norm() * exact.norm())
    assert cos > 0.8


def test_loss_keeps_growing_when_distributions_stop_overlapping():
    """The paper's Fig. 4: heatmap L2 saturates once the maps are apart, W keeps growing."""
    n = 40
    target = render_gaussian(torch.tensor([[[10.0, 20.0]]]), n, 1.0, normalize=True)[:, 0]
    w_vals, l2_vals = [], []
    for d in (0.0, 2.0, 6.0, 12.0, 20.0, 26.0):
        pred = render_gaussian(torch.tensor([[[10.0 + d, 20.0]]]), n, 1.0, normalize=True)[:, 0]
        w_vals.append(wasserstein2d(pred, target).item())
        l2_vals.append(((pred - target) ** 2).sum().item())
    assert all(x < y for x, y in zip(w_vals, w_vals[1:]))
    assert w_vals[-1] == pytest.approx(26.0, rel=0.02)
    assert l2_vals[-1] - l2_vals[-3] < 1e-6  # no overlap: L2 is flat
    # and the gradient of W points mass towards the target even without overlap
    x = torch.log(render_gaussian(torch.tensor([[[30.0, 20.0]]]), n, 1.0, truncate=None)[:, 0])
    x.requires_grad_(True)
    w = wasserstein2d(torch.softmax(x.flatten(-2), -1).reshape(x.shape), target)
    w.backward()
    p = torch.softmax(x.detach().flatten(-2), -1).reshape(x.shape)
    step = torch.softmax((x.detach() - 20.0 * x.grad).flatten(-2), -1).reshape(x.shape)
    assert wasserstein2d(step, target).item() < w.item()
    xs = torch.arange(n, dtype=p.dtype)
    assert (step.sum(dim=-2) * xs).sum() < (p.sum(dim=-2) * xs).sum()  # barycenter moved left


def test_float32_safe_for_extreme_logits_zero_targets_and_denormals():
    torch.manual_seed(0)
    logits = torch.randn(3, 4, 32, 32) * 1e4
    logits[0, 0] = 0.0
    target = render_gaussian(torch.rand(3, 4, 2) * 31, 32, 3.0, normalize=True, truncate=None)
    assert (target < torch.finfo(torch.float32).tiny).any()  # denormal / zero tails present
    logits.requires_grad_(True)
    p = torch.softmax(logits.flatten(-2), -1).reshape(logits.shape)
    w = wasserstein2d(p, target)
    w.sum().backward()
    assert torch.isfinite(w).all() and torch.isfinite(logits.grad).all()


@pytest.mark.parametrize("eps", [0.1, 0.05, 0.03])
def test_small_eps_switches_to_stable_backend_and_stays_exact(eps):
    n = 12
    cost = grid_cost(n, n)
    a, b = random_pair(n, 2.0, "peaked", seed=6)
    res = sinkhorn2d(a.float(), b.float(), SinkhornOptions(eps=eps, tol=1e-6, max_iter=5000))
    # the target's support reaches about 6 px from the window centre: beyond the float32
    # range (exp(+-87)) once 6 / eps > 87
    if eps < 0.06:
        assert res.backends[-1] in ("float64", "log")
    an, bn = a[0].reshape(-1).numpy(), b[0].reshape(-1).numpy()
    plan = ot.sinkhorn(an, bn, cost, eps, method="sinkhorn_log", numItermax=200000, stopThr=1e-9)
    assert res.cost[0].item() == pytest.approx((plan * cost).sum(), rel=1e-3)


def test_backends_layouts_and_multiscale_agree():
    a, b = random_pair(32, 1.0, "rand", seed=7, count=5)
    ref = sinkhorn2d(a, b, SinkhornOptions(eps=0.5, precision="log", **TIGHT))
    for kw in (
        {"precision": "float32"},
        {"precision": "float64", "bucket": 1},
        {"bucket": 1000},
        {"multiscale": False},
        {"full_window": True},
    ):
        res = sinkhorn2d(a, b, SinkhornOptions(eps=0.5, **{**TIGHT, **kw}))
        tol = 1e-4 if kw.get("precision") == "float32" else 1e-8
        assert torch.allclose(res.cost, ref.cost, rtol=tol), kw
        assert torch.allclose(res.entropic, ref.entropic, rtol=tol), kw


def test_gradient_with_respect_to_the_target():
    a, b = random_pair(6, 1.0, "rand", seed=8)
    x = torch.log(b.clamp_min(1e-30)).clone().requires_grad_(True)
    opts = SinkhornOptions(eps=1.0, **TIGHT)

    def fn(t):
        return wasserstein2d(
            a, torch.softmax(t.flatten(-2), -1).reshape(t.shape), 1.0, "entropic", options=opts
        )

    assert torch.autograd.gradcheck(fn, (x,), eps=1e-6, atol=1e-6, rtol=1e-4)


def test_kernel_cache_is_reused_and_bounded():
    a, b = random_pair(16, 1.0, "rand", seed=9, count=2)
    cache = KernelCache(max_bytes=10**9)
    wasserstein2d(a, b, cache=cache)
    n_tables = len(cache)
    assert n_tables > 0
    wasserstein2d(a, b, cache=cache)
    assert len(cache) == n_tables
    small = KernelCache(max_bytes=1)
    wasserstein2d(a, b, cache=small)
    assert len(small) == 1


def test_bad_inputs_are_rejected():
    a, b = random_pair(8, 1.0, "rand", seed=10)
    with pytest.raises(ValueError, match="same shape"):
        wasserstein2d(a, b[:, :4])
    with pytest.raises(ValueError, match="non-negative"):
        wasserstein2d(-a, b)
    with pytest.raises(ValueError, match="no mass"):
        wasserstein2d(torch.zeros_like(a), b)
    with pytest.raises(ValueError, match="NaN"):
        wasserstein2d(a * float("nan"), b)
    with pytest.raises(ValueError, match="value"):
        wasserstein2d(a, b, value="debiased")
    with pytest.raises(ValueError, match="eps"):
        SinkhornOptions(eps=0)


# ------------------------------------------------------------------------------------------------
# form="difference": only (a - b)+ is moved onto (b - a)+ (Kantorovich-Rubinstein)


@pytest.mark.parametrize("kind", ["rand", "peaked", "close"])
def test_difference_form_is_a_feasible_plan_closer_to_exact_w1(kind):
    n = 16
    a, b = random_pair(n, 2.0, "peaked" if kind == "close" else kind, seed=11, count=3)
    if kind == "close":  # late in training: the prediction is almost the target
        a = 0.9 * b + 0.1 * a
    exact = np.array(
        [
            ot.emd2(a[i].reshape(-1).numpy(), b[i].reshape(-1).numpy(), grid_cost(n, n))
            for i in range(3)
        ]
    )
    # W1 depends on a - b only: the exact problem between the normalised differences, times
    # their mass, is W1 itself (checked with POT's exact solver, independently of otmark)
    d = (a - b).reshape(3, -1).numpy()
    pos, neg = d.clip(min=0), (-d).clip(min=0)
    mass = pos.sum(1)
    moved = [m * ot.emd2(p / m, q / m, grid_cost(n, n)) for p, q, m in zip(pos, neg, mass)]
    np.testing.assert_allclose(moved, exact, rtol=1e-9)
    opts = SinkhornOptions(**TIGHT)
    diff = wasserstein2d(a, b, eps=0.25, options=opts).numpy()
    full = wasserstein2d(a, b, eps=0.25, options=opts, form="full").numpy()
    # diag(min(a, b)) + m P is a plan between a and b: never below the optimum ...
    assert (diff >= exact * (1 - 1e-9)).all()
    # ... and only the moved mass is blurred: the bias shrinks with it
    assert (diff - exact < full - exact).all()
    if kind == "close":
        assert (diff - exact < 0.5 * (full - exact)).all()


def test_difference_form_is_m_times_the_entropic_problem_of_the_differences(cost16):
    a, b = random_pair(16, 1.5, "peaked", seed=12, count=2)
    eps = 0.5
    got = wasserstein2d(a, b, eps=eps, options=SinkhornOptions(**TIGHT)).numpy()
    d = (a - b).reshape(2, -1).numpy()
    for i in range(2):
        p, q = d[i].clip(min=0), (-d[i]).clip(min=0)
        m = p.sum()
        plan = ot.sinkhorn(
            p / m, q / m, cost16, eps, method="sinkhorn_log", numItermax=100000, stopThr=1e-13
        )
        assert got[i] == pytest.approx(m * (plan * cost16).sum(), rel=1e-6)


def test_difference_problem_parts_by_hand():
    # 1x3 maps: a = (0.5, 0.5, 0), b = (0, 0.5, 0.5): moved mass 0.5 from pixel 0 to pixel 2
    a = torch.tensor([[[0.5, 0.5, 0.0]], [[0.2, 0.3, 0.5]]], dtype=torch.float64)
    b = torch.tensor([[[0.0, 0.5, 0.5]], [[0.2, 0.3, 0.5]]], dtype=torch.float64)
    opts = SinkhornOptions(threshold=0.0)
    pb = difference_problem(a, b, opts)
    assert pb.mass.tolist() == [0.5, 0.0]
    assert pb.moved.tolist() == [True, False]
    assert pb.src[0].tolist() == [[1.0, 0.0, 0.0]] and pb.dst[0].tolist() == [[0.0, 0.0, 1.0]]
    # equal maps: the same one-pixel stand-in on both sides
    assert pb.src[1].tolist() == pb.dst[1].tolist() == [[1.0, 0.0, 0.0]]
    assert pb.anchor.tolist() == [1, 0]  # first peak of b; 0 where nothing moves
    # m times the solved problem is the difference form's value (2 px between the parts)
    res = solve_difference_problem(pb, SinkhornOptions(**TIGHT))
    assert float(pb.mass[0] * res.cost[0]) == pytest.approx(1.0, rel=1e-6)
    assert float(wasserstein2d(a[:1], b[:1], value="cost")[0]) == pytest.approx(1.0, rel=1e-3)


@pytest.mark.parametrize("wrt", ["prediction", "target"])
def test_difference_form_implicit_gradient_is_exact_for_the_entropic_value(wrt):
    a, b = random_pair(6, 1.0, "rand", seed=13, count=2)
    opts = SinkhornOptions(eps=1.0, **TIGHT)
    x = torch.log(a if wrt == "prediction" else b).clone().requires_grad_(True)

    def fn(t):
        p = torch.softmax(t.flatten(-2), -1).reshape(t.shape)
        pair = (p, b) if wrt == "prediction" else (a, p)
        return wasserstein2d(*pair, 1.0, "entropic", options=opts)

    assert torch.autograd.gradcheck(fn, (x,), eps=1e-6, atol=1e-6, rtol=1e-4)


def test_difference_form_gradient_follows_the_exact_kantorovich_potential():
    n = 16
    a, b = random_pair(n, 2.0, "peaked", seed=14, count=3)
    x = a.clone().requires_grad_(True)
    wasserstein2d(x, b, eps=0.1).sum().backward()
    for i in range(3):
        _, log = ot.emd2(
            a[i].reshape(-1).numpy(), b[i].reshape(-1).numpy(), grid_cost(n, n), log=True
        )
        w = a[i].reshape(-1).numpy()
        u = log["u"] - np.average(log["u"], weights=w)
        g = x.grad[i].reshape(-1).numpy()
        g = g - np.average(g, weights=w)
        cos = np.sum(w * u * g) / np.sqrt(np.sum(w * u * u) * np.sum(w * g * g))
        assert cos > 0.98


def test_difference_form_of_equal_maps_is_zero_with_zero_gradient():
    a, b = random_pair(8, 1.0, "peaked", seed=15, count=2)
    a = torch.stack([b[0], a[1]])  # first pair equal
    x = a.clone().requires_grad_(True)
    w = wasserstein2d(x, b)
    w.sum().backward()
    assert w[0].item() == 0.0 and w[1].item() > 0
    assert torch.count_nonzero(x.grad[0]) == 0 and torch.count_nonzero(x.grad[1]) > 0


def test_difference_form_backends_agree():
    a, b = random_pair(32, 3.0, "peaked", seed=16, count=4)
    a, b = a.float(), b.float()
    bucketed = wasserstein2d(a, b, options=SinkhornOptions(backend="bucketed", tol=1e-4))
    fixed = wasserstein2d(a, b, options=SinkhornOptions(backend="fixed", iterations=200))
    torch.testing.assert_close(fixed, bucketed, rtol=5e-3, atol=1e-4)


def test_unknown_form_is_rejected():
    a, b = random_pair(8, 1.0, "rand", seed=17)
    with pytest.raises(ValueError, match="form must be one of"):
        wasserstein2d(a, b, form="residual")
