"""Cascaded Pyramid Network: GlobalNet level outputs + RefineNet output."""

import torch

from otmark.models import create_model
from otmark.models.cpn import CPN


def test_training_outputs_are_four_global_levels_then_refine():
    model = create_model("cpn", 4, base_width=4, channels=8, blocks=(1, 1, 1, 1)).train()
    outs = model(torch.randn(2, 3, 64, 64))
    assert isinstance(outs, list) and len(outs) == 5
    assert all(o.shape == (2, 4, 16, 16) for o in outs)
    model.eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 64, 64)).shape == (2, 4, 16, 16)


def test_refinenet_depth_grows_with_the_pyramid_level():
    model = CPN(3, depth=18, base_width=4, channels=8, blocks=(1, 1, 1, 1))
    assert [len(level) for level in model.refine_net.levels] == [0, 1, 2, 3]
    assert len(model.global_net.lateral) == 4
    assert [m[0].in_channels for m in model.global_net.lateral] == [4, 8, 16, 32]
