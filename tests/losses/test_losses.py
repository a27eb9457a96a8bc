"""The four losses against independent references."""

import math

import numpy as np
import ot
import pytest
import torch
import torch.nn.functional as F
from scipy.spatial.distance import jensenshannon

from otmark.heatmaps import render_gaussian
from otmark.losses import (
    LOSSES,
    create_loss,
    heatmap_l2_loss,
    jensen_shannon_loss,
    soft_argmax_loss,
    wasserstein_loss,
)


def _grid_cost(n):
    ys, xs = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    pts = np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float64)
    return np.sqrt(((pts[:, None] - pts[None]) ** 2).sum(-1))


def _batch(b=2, k=3, n=16, sigma=1.5, seed=0):
    g = torch.Generator().manual_seed(seed)
    coords = 4 + torch.rand(b, k, 2, generator=g, dtype=torch.float64) * (n - 9)
    target = render_gaussian(coords, n, sigma)
    pred = torch.randn(b, k, n, n, generator=g, dtype=torch.float64)
    return pred, target, coords


def test_l2_is_mse_and_weights_zero_out_maps():
    pred, target, _ = _batch()
    assert heatmap_l2_loss(pred, target).item() == pytest.approx(F.mse_loss(pred, target).item())
    w = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    per_map = ((pred - target) ** 2).mean(dim=(-2, -1))
    assert heatmap_l2_loss(pred, target, w).item() == pytest.approx((per_map * w).sum().item() / 6)


def test_js_matches_scipy():
    pred, target, _ = _batch(seed=1)
    p = torch.softmax(pred.flatten(-2), -1).numpy()
    q = (target.flatten(-2) / target.flatten(-2).sum(-1, keepdim=True)).numpy()
    ref = np.mean([jensenshannon(p[i, j], q[i, j]) ** 2 for i in range(2) for j in range(3)])
    assert jensen_shannon_loss(pred, target).item() == pytest.approx(ref, rel=1e-9)


def test_js_bounds_and_extreme_logits():
    pred, target, _ = _batch(seed=2)
    same = torch.log(target.clamp_min(1e-300))
    assert jensen_shannon_loss(same, target).item() == pytest.approx(0.0, abs=1e-9)
    far = torch.full_like(pred, -1e4)
    far[..., 0, 0] = 1e4  # all mass in a corner, away from every target
    js = jensen_shannon_loss(far.requires_grad_(True), target)
    assert js.item() == pytest.approx(math.log(2), rel=1e-6)
    js.backward()
    assert torch.isfinite(far.grad).all()


def test_soft_argmax_hand_worked_example():
    # prediction: half the mass at (x=1, y=0), half at (x=3, y=0) -> barycenter (2, 0)
    pred = torch.full((1, 1, 4, 4), -1e9, dtype=torch.float64)
    pred[0, 0, 0, 1] = pred[0, 0, 0, 3] = 0.0
    target = torch.zeros(1, 1, 4, 4, dtype=torch.float64)
    target[0, 0, 3, 2] = 1.0  # centre (2, 3)
    assert soft_argmax_loss(pred, target).item() == pytest.approx(3.0, abs=1e-6)
    assert soft_argmax_loss(pred, target, norm="l1").item() == pytest.approx(3.0, abs=1e-6)
    target2 = torch.zeros_like(target)
    target2[0, 0, 3, 3] = 1.0  # centre (3, 3): distances (1, 3)
    assert soft_argmax_loss(pred, target2).item() == pytest.approx(math.sqrt(10), abs=1e-6)
    assert soft_argmax_loss(pred, target2, norm="l1").item() == pytest.approx(4.0, abs=1e-6)


def test_wasserstein_loss_matches_exact_w1_and_mean_over_maps():
    n = 16
    pred, target, coords = _batch(b=1, k=3, n=n, sigma=1.5, seed=3)
    pred = 6 * render_gaussian(coords + 1.5, n, 1.5) + 0.3 * pred  # peaked, displaced
    loss = wasserstein_loss(pred, target, eps=0.25)
    p = torch.softmax(pred.flatten(-2), -1)
    q = target.flatten(-2) / target.flatten(-2).sum(-1, keepdim=True)
    cost = _grid_cost(n)
    exact = np.mean([ot.emd2(p[0, j].numpy(), q[0, j].numpy(), cost) for j in range(3)])
    assert loss.item() >= exact
    assert loss.item() - exact < 0.6 * 0.25


def test_wasserstein_loss_forms_near_convergence():
    """Close to the target the difference form stays near the exact W1; the full form carries
    the entropic blur of the whole mass."""
    n = 16
    _, target, coords = _batch(b=1, k=3, n=n, sigma=2.0, seed=4)
    near = render_gaussian(coords + 0.3, n, 2.0, normalize=True, truncate=None)
    pred = torch.log(near + 1e-9)
    p = torch.softmax(pred.flatten(-2), -1)
    q = target.flatten(-2) / target.flatten(-2).sum(-1, keepdim=True)
    cost = _grid_cost(n)
    exact = np.mean([ot.emd2(p[0, j].numpy(), q[0, j].numpy(), cost) for j in range(3)])
    diff = create_loss("wasserstein", eps=0.25)(pred, target).item()
    full = create_loss("wasserstein", eps=0.25, form="full")(pred, target).item()
    assert exact <= diff < full
    assert diff - exact < 0.25 * (full - exact)
    assert "form='difference'" in repr(create_loss("wasserstein"))
    with pytest.raises(ValueError, match="form must be one of"):
        create_loss("wasserstein", form="residual")


def test_wasserstein_loss_skips_empty_targets_and_zero_weights():
    pred, target, _ = _batch(seed=4)
    target[0, 1] = 0.0  # landmark outside the heatmap: empty target
    w = torch.ones(2, 3, dtype=torch.float64)
    w[1, 2] = 0.0
    pred.requires_grad_(True)
    loss = wasserstein_loss(pred, target, w)
    loss.backward()
    assert pred.grad[0, 1].abs().sum() == 0 and pred.grad[1, 2].abs().sum() == 0
    keep = [(0, 0), (0, 2), (1, 0), (1, 1)]
    single = [
        wasserstein_loss(pred[i : i + 1, j : j + 1], target[i : i + 1, j : j + 1]) for i, j in keep
    ]
    # equal up to the solver tolerance (the batch and single maps stop at different iterations)
    assert loss.item() == pytest.approx(sum(s.item() for s in single) / 6, rel=5e-4)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_registry_modules_agree_with_functions_and_train(name):
    pred, target, _ = _batch(b=1, k=2, n=12, seed=5)
    loss = create_loss(name)
    x = pred.clone().requires_grad_(True)
    opt = torch.optim.SGD([x], lr=0.5 if name != "l2" else 20.0)
    start = loss(x, target).item()
    for _ in range(15):
        opt.zero_grad()
        loss(x, target).backward()
        opt.step()
    assert loss(x, target).item() < start  # plain gradient descent lowers every loss
    assert isinstance(loss.output_is_logits, bool)


def test_bad_arguments():
    pred, target, _ = _batch()
    with pytest.raises(ValueError, match="unknown loss"):
        create_loss("wing")
    with pytest.raises(ValueError, match=r"\(B, K, H, W\)"):
        heatmap_l2_loss(pred[0], target[0])
    with pytest.raises(ValueError, match="weight"):
        jensen_shannon_loss(pred, target, torch.ones(3))
