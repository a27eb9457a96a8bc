"""HRNetV2 for facial landmarks, as in HRNet-Facial-Landmark-Detection's ``hrnet_w18`` config.

Layout (``W`` = ``width``, 18 for HRNetV2-W18):

- stem: two 3x3 stride-2 convs (``stem_width`` = 64 channels) -> 1/4 resolution;
- layer1: 4 Bottlenecks (``4 * stem_width`` = 256 channels);
- stages 2/3/4: ``num_modules`` = 1/4/3 modules with 2/3/4 branches of ``W, 2W, 4W, 8W``
  channels at 1/4, 1/8, 1/16, 1/32 resolution; ``num_blocks`` = 4 BasicBlocks per branch;
  after each module the branches are fused by summation: a lower-resolution branch through a
  1x1 conv + BN and bilinear upsampling (``align_corners=False``), a higher-resolution branch
  through strided 3x3 convs + BN;
- head: every branch upsampled to the 1/4 branch, concatenated (``15W`` = 270 channels),
  1x1 conv ``15W -> 15W`` + BN + ReLU, 1x1 conv ``15W -> K``.

Maps ``(B, 3, H, W)`` to heatmap logits ``(B, K, H/4, W/4)``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from otmark.models.layers import BasicBlock, Bottleneck, conv_bn, init_normal_, make_layer
from otmark.models.upsample import bilinear_resize


def _upsample_to(x: Tensor, ref: Tensor) -> Tensor:
    """Bilinear resize of ``x`` to ``ref``'s spatial size (``align_corners=False``)."""
    return bilinear_resize(x, ref.shape[-2:])


class HighResolutionModule(nn.Module):
    """One HRNet module: ``num_blocks`` BasicBlocks per branch, then the all-to-all fusion.

    Input and output: a list of ``len(channels)`` tensors, branch ``i`` of shape
    ``(B, channels[i], H / 2**i, W / 2**i)``.
    """

    def __init__(self, channels: list[int], num_blocks: int) -> None:
        super().__init__()
        self.branches = nn.ModuleList(make_layer(BasicBlock, c, c, num_blocks)[0] for c in channels)
        n = len(channels)
        self.fuse = nn.ModuleList()
        for i in range(n):
            row = nn.ModuleList()
            for j in range(n):
                if j == i:
                    row.append(nn.Identity())
                elif j > i:  # lower resolution -> 1x1 conv + BN, upsampled in forward
                    row.append(conv_bn(channels[j], channels[i], 1, relu=False))
                else:  # higher resolution -> (i - j) strided 3x3 convs
                    steps: list[nn.Module] = [
                        conv_bn(channels[j], channels[j], 3, stride=2) for _ in range(i - j - 1)
                    ]
                    steps.append(conv_bn(channels[j], channels[i], 3, stride=2, relu=False))
                    row.append(nn.Sequential(*steps))
            self.fuse.append(row)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, xs: list[Tensor]) -> list[Tensor]:
        xs = [branch(x) for branch, x in zip(self.branches, xs)]
        out = []
        for i, row in enumerate(self.fuse):
            y = xs[i]
            for j, layer in enumerate(row):
                if j == i:
                    continue
                z = layer(xs[j])
                if j > i:
                    z = _upsample_to(z, xs[i])
                y = y + z
            out.append(self.relu(y))
        return out


class Transition(nn.Module):
    """Between stages: keeps existing branches (3x3 conv if the width changes) and adds a new
    half-resolution branch from the lowest one with a strided 3x3 conv.

    ``list of len(in_ch)`` tensors -> ``list of len(out_ch)`` tensors.
    """

    def __init__(self, in_ch: list[int], out_ch: list[int]) -> None:
        super().__init__()
        self.layers = nn.ModuleList()
        for i, c in enumerate(out_ch):
            if i < len(in_ch):
                same = in_ch[i] == c
                self.layers.append(nn.Identity() if same else conv_bn(in_ch[i], c, 3))
            else:
                self.layers.append(conv_bn(in_ch[-1], c, 3, stride=2))
        self.num_in = len(in_ch)

    def forward(self, xs: list[Tensor]) -> list[Tensor]:
        return [layer(xs[i] if i < self.num_in else xs[-1]) for i, layer in enumerate(self.layers)]


class HRNet(nn.Module):
    """HRNetV2 heatmap regressor: ``(B, 3, H, W) -> (B, num_landmarks, H/4, W/4)`` logits.

    Args:
        num_landmarks: ``K``, output channels.
        width: channels of the highest-resolution branch (18 for W18); branches have
            ``width * (1, 2, 4, 8)``.
        stem_width: channels of the stem (64); layer1 outputs ``4 * stem_width``.
        num_blocks: BasicBlocks per branch in every module (4).
        num_modules: modules in stages 2, 3, 4 (``(1, 4, 3)``).
        layer1_blocks: Bottlenecks in layer1 (4).
        bn_momentum: BatchNorm momentum (0.01 as in the original code).
    """

    def __init__(
        self,
        num_landmarks: int,
        width: int = 18,
        stem_width: int = 64,
        num_blocks: int = 4,
        num_modules: tuple[int, int, int] = (1, 4, 3),
        layer1_blocks: int = 4,
        bn_momentum: float = 0.01,
    ) -> None:
        super().__init__()
        if len(num_modules) != 3:
            raise ValueError(f"num_modules must give stages 2, 3, 4; got {num_modules!r}")
        self.stem = nn.Sequential(
            conv_bn(3, stem_width, 3, stride=2), conv_bn(stem_width, stem_width, 3, stride=2)
        )
        self.layer1, ch = make_layer(Bottleneck, stem_width, stem_width, layer1_blocks)
        prev = [ch]
        self.transitions = nn.ModuleList()
        self.stages = nn.ModuleList()
        for s, modules in enumerate(num_modules):
            channels = [width * 2**i for i in range(s + 2)]
            self.transitions.append(Transition(prev, channels))
            self.stages.append(
                nn.Sequential(*(HighResolutionModule(channels, num_blocks) for _ in range(modules)))
            )
            prev = channels
        total = sum(prev)
        self.head = nn.Sequential(
            conv_bn(total, total, 1), nn.Conv2d(total, num_landmarks, kernel_size=1)
        )
        init_normal_(self, std=0.001)
        for m in self.modules():  # the original's BN_MOMENTUM
            if isinstance(m, nn.BatchNorm2d):
                m.momentum = bn_momentum

    def forward(self, x: Tensor) -> Tensor:
        xs = [self.layer1(self.stem(x))]
        for transition, stage in zip(self.transitions, self.stages):
            xs = stage(transition(xs))
        feats = torch.cat([xs[0]] + [_upsample_to(y, xs[0]) for y in xs[1:]], dim=1)
        return self.head(feats)
