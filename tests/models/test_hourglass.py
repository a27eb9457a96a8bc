"""Stacked Hourglass: stacks, intermediate supervision, odd sizes."""

import torch

from otmark.models import as_stack_list, create_model
from otmark.models.hourglass import Hourglass, Residual


def test_residual_shapes_and_skip():
    assert Residual(4, 8)(torch.randn(1, 4, 5, 5)).shape == (1, 8, 5, 5)
    same = Residual(6, 6)
    assert isinstance(same.skip, torch.nn.Identity)


def test_hourglass_keeps_the_shape_even_for_sizes_not_divisible_by_2_pow_depth():
    hg = Hourglass(depth=3, channels=4).eval()
    with torch.no_grad():
        assert hg(torch.randn(1, 4, 13, 10)).shape == (1, 4, 13, 10)


def test_recursion_depth():
    hg = Hourglass(depth=4, channels=4)
    levels, node = 0, hg
    while isinstance(node, Hourglass):
        levels, node = levels + 1, node.inner
    assert levels == 4


def test_hourglass4_has_4_stacks_and_3_merges():
    model = create_model("hourglass4", 7, channels=8, depth=2).train()
    assert len(model.hourglasses) == 4 and len(model.merge_features) == 3
    outs = as_stack_list(model(torch.randn(2, 3, 32, 32)))
    assert len(outs) == 4 and all(o.shape == (2, 7, 8, 8) for o in outs)
    # each stack's prediction differs (they are separate heads on refined features)
    assert not torch.allclose(outs[0], outs[-1])
