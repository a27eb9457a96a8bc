"""Blocks of window origins (bucketed backend): balanced blocks, at least two per axis,
change the padding of the products, not the loss (against the previous layout and POT)."""

import ot
import pytest
import torch
from ot_reference import grid_cost

from otmark.heatmaps import render_gaussian
from otmark.losses import wasserstein_loss
from otmark.ot import SinkhornOptions, wasserstein2d
from otmark.ot.counting import DispatchCounter
from otmark.ot.sinkhorn import bucket_side


@pytest.mark.parametrize(
    "grid,window,bucket,side",
    [
        ((32, 32), (18, 18), 16, 8),  # span 15 fits one block of 16: two blocks of 8 per axis
        ((32, 32), (16, 16), 16, 9),  # span 17: two blocks of 9, not one of 16 and one of 1
        ((16, 16), (9, 9), 16, 4),  # span 8, the smallest that is split
        ((16, 16), (10, 10), 16, 7),  # span 7: one block
        ((64, 64), (20, 20), 16, 15),  # span 45: three blocks of 15
        ((32, 20), (18, 10), 16, 8),  # the larger span of the two axes (15 and 11)
        ((32, 32), (18, 18), 12, 8),  # span 15 in blocks of at most 12: two of 8
    ],
)
def test_bucket_side(grid, window, bucket, side):
    assert bucket_side(grid, window, bucket) == side


def _batch(n: int, sigma: float, count: int, seed: int):
    """Peaked logits (a displaced blob over noise) and peak-1 targets, some near the border."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.rand(1, count, 2, generator=g) * (n - 1)
    target = render_gaussian(centres, n, sigma)
    blob = render_gaussian(centres + torch.tensor([1.5, -1.0]), n, 1.5, truncate=None)
    logits = 8 * blob + 0.5 * torch.randn(1, count, n, n, generator=g)
    return logits, target


def test_split_blocks_keep_the_loss_and_its_gradient():
    # 16x16 maps, sigma-1.5 targets: 9x9 windows, origins over 8 pixels -> 4x4 blocks
    logits, target = _batch(16, 1.5, 8, seed=3)
    out = {}
    for split in (False, True):
        x = logits.clone().requires_grad_(True)
        with DispatchCounter() as counter:
            loss = wasserstein_loss(x, target, options=SinkhornOptions(split_blocks=split))
            loss.backward()
        out[split] = (loss.item(), x.grad, counter.by_name["mm"])
    assert out[True][0] == pytest.approx(out[False][0], rel=1e-5)
    torch.testing.assert_close(out[True][1], out[False][1], rtol=1e-4, atol=1e-7)
    # the split solve does run more (smaller) products: the test exercises the split layout
    assert out[True][2] > out[False][2]


def test_split_blocks_at_the_study_size_against_pot():
    # the CPU study's size: 32x32 maps, sigma-3 px targets (18x18 windows -> 2x2 blocks)
    logits, target = _batch(32, 3.0, 3, seed=4)
    a = torch.softmax(logits.flatten(-2), -1).reshape(logits.shape)[0]
    b = target[0] / target[0].sum(dim=(-2, -1), keepdim=True)
    split = wasserstein2d(a, b)
    one = wasserstein2d(a, b, options=SinkhornOptions(split_blocks=False))
    torch.testing.assert_close(split, one, rtol=1e-6, atol=0.0)
    cost = grid_cost(32, 32)
    for i in range(3):
        exact = ot.emd2(a[i].double().reshape(-1).numpy(), b[i].double().reshape(-1).numpy(), cost)
        # the default eps's bias model (docs/wasserstein_loss.md): never below W1, within 3 %
        assert exact * (1 - 1e-5) <= split[i].item() <= exact * 1.03
