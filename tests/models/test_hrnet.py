"""HRNetV2-W18: the published size and layout, built but not run at full size."""

import pytest
import torch

from otmark.models import count_parameters, create_model
from otmark.models.hrnet import HighResolutionModule, HRNet, Transition
from otmark.schemes import get_scheme

K300W = get_scheme("300w").num_points
KWFLW = get_scheme("wflw").num_points


@pytest.fixture(scope="module")
def w18():
    torch.manual_seed(0)
    return create_model("hrnet_w18", K300W)


def test_hrnet_w18_parameter_count_is_the_published_one(w18):
    n = count_parameters(w18)
    assert 9.3e6 <= n <= 9.8e6


def test_hrnet_w18_head_is_270_channels_and_grows_by_271_per_landmark(w18):
    head_convs = [m for m in w18.head.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in head_convs] == [
        (270, 270, (1, 1)),
        (270, K300W, (1, 1)),
    ]
    # closed form of the landmark-dependent part: 1x1 conv 270 -> K with bias
    other = HRNet(KWFLW)
    assert count_parameters(other) - count_parameters(w18) == (KWFLW - K300W) * (270 + 1)


def test_hrnet_w18_stage_layout(w18):
    assert [len(stage) for stage in w18.stages] == [1, 4, 3]
    for s, stage in enumerate(w18.stages):
        for module in stage:
            assert isinstance(module, HighResolutionModule)
            widths = [branch[0].conv1.in_channels for branch in module.branches]
            assert widths == [18, 36, 72, 144][: s + 2]
            assert all(len(branch) == 4 for branch in module.branches)
    assert all(isinstance(t, Transition) for t in w18.transitions)
    # stem: two stride-2 3x3 convs with 64 channels; layer1: 4 bottlenecks to 256
    stem_convs = [m for m in w18.stem.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size, c.stride) for c in stem_convs] == [
        (64, (3, 3), (2, 2)),
        (64, (3, 3), (2, 2)),
    ]
    assert len(w18.layer1) == 4 and w18.layer1[-1].conv3.out_channels == 256


def test_hrnet_fusion_lower_to_higher_is_1x1_and_higher_to_lower_is_strided_3x3(w18):
    module = w18.stages[2][0]  # 4 branches
    up = module.fuse[0][3]  # branch 3 -> branch 0: 1x1 conv 144 -> 18 + BN
    assert isinstance(up[0], torch.nn.Conv2d) and up[0].kernel_size == (1, 1)
    assert (up[0].in_channels, up[0].out_channels) == (144, 18)
    down = module.fuse[3][0]  # branch 0 -> branch 3: three stride-2 3x3 convs
    convs = [m for m in down.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.stride) for c in convs] == [
        (18, 18, (2, 2)),
        (18, 18, (2, 2)),
        (18, 144, (2, 2)),
    ]


def test_hrnet_init_is_normal_std_0_001_and_bn_momentum_0_01(w18):
    bns = [m for m in w18.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and all(bn.momentum == 0.01 for bn in bns)
    w = w18.stages[2][0].branches[3][0].conv1.weight  # 144 x 144 x 3 x 3
    assert abs(w.std().item() - 0.001) < 5e-5
    assert abs(w.mean().item()) < 5e-5


def test_fusion_sums_resized_branches():
    """A 2-branch module whose blocks and fusion convs are made identities computes
    ``relu(x0 + upsample(x1))`` and ``relu(downsample(x0) + x1)``: checked against
    ``F.interpolate`` and a hand-made strided 3x3 averaging-free identity kernel."""
    torch.manual_seed(1)
    mod = HighResolutionModule([2, 2], num_blocks=1).eval()
    for branch in mod.branches:
        branch[0].conv2.weight.data.zero_()  # block output = relu(x + 0) = relu(x)
        branch[0].bn2.bias.data.zero_()
    eye1 = torch.eye(2).view(2, 2, 1, 1)
    mod.fuse[0][1][0].weight.data.copy_(eye1)
    eye3 = torch.zeros(2, 2, 3, 3)
    eye3[0, 0, 1, 1] = eye3[1, 1, 1, 1] = 1.0  # strided 3x3 picking the centre pixel
    mod.fuse[1][0][0][0].weight.data.copy_(eye3)
    x0, x1 = torch.rand(1, 2, 8, 8), torch.rand(1, 2, 4, 4)
    with torch.no_grad():
        y0, y1 = mod([x0, x1])
    up = torch.nn.functional.interpolate(x1, size=(8, 8), mode="bilinear", align_corners=False)
    torch.testing.assert_close(y0, x0 + up, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(y1, x0[:, :, ::2, ::2] + x1, atol=1e-5, rtol=1e-5)
