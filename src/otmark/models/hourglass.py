"""Stacked Hourglass networks (Newell et al., 2016) with intermediate supervision.

``(B, 3, H, W)`` -> stem (7x7/2 conv, residuals, 2x2 max-pool) at ``H/4`` -> ``num_stacks``
hourglasses, each followed by residuals, a 1x1 conv + BN + ReLU and a 1x1 heatmap head; between
stacks the features and the heatmaps are mapped back by 1x1 convs and added to the stack input.

Return type: in training mode a ``list`` of ``num_stacks`` tensors ``(B, K, H/4, W/4)``, one per
stack, the last one being the final prediction (sum the loss over them, see
:func:`otmark.models.as_stack_list`); in eval mode only the last tensor ``(B, K, H/4, W/4)``.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class Residual(nn.Module):
    """Pre-activation bottleneck residual of the hourglass paper:
    ``BN-ReLU-1x1(out/2)-BN-ReLU-3x3(out/2)-BN-ReLU-1x1(out)`` + (1x1 conv) skip.
    ``(B, in_ch, H, W) -> (B, out_ch, H, W)``."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        mid = max(out_ch // 2, 1)
        self.body = nn.Sequential(
            nn.BatchNorm2d(in_ch),
            nn.ReLU(inplace=False),
            nn.Conv2d(in_ch, mid, 1),
            nn.BatchNorm2d(mid),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid, mid, 3, padding=1),
            nn.BatchNorm2d(mid),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid, out_ch, 1),
        )
        self.skip = nn.Identity() if in_ch == out_ch else nn.Conv2d(in_ch, out_ch, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x) + self.skip(x)


class Hourglass(nn.Module):
    """One recursive hourglass of ``depth`` levels: ``(B, C, H, W) -> (B, C, H, W)``.

    Each level: an upper residual branch at full resolution, and a lower branch (2x2 max-pool,
    residual, the next level or a residual, residual, nearest upsampling back); the two are
    summed. ``H`` and ``W`` need not be multiples of ``2**depth``: the lower branch is resized
    to the upper one.
    """

    def __init__(self, depth: int, channels: int, num_blocks: int = 1) -> None:
        super().__init__()

        def res() -> nn.Module:
            return nn.Sequential(*(Residual(channels, channels) for _ in range(num_blocks)))

        self.up = res()
        self.down = res()
        self.inner: nn.Module = Hourglass(depth - 1, channels, num_blocks) if depth > 1 else res()
        self.after = res()

    def forward(self, x: Tensor) -> Tensor:
        up = self.up(x)
        low = self.after(self.inner(self.down(F.max_pool2d(x, 2, ceil_mode=True))))
        return up + F.interpolate(low, size=up.shape[-2:], mode="nearest")


class StackedHourglass(nn.Module):
    """Args: ``num_landmarks`` (K), ``num_stacks`` (2 or 4), ``channels`` (256) of the
    hourglasses, ``depth`` (4 levels), ``num_blocks`` residuals per hourglass step (1)."""

    def __init__(
        self,
        num_landmarks: int,
        num_stacks: int = 2,
        channels: int = 256,
        depth: int = 4,
        num_blocks: int = 1,
    ) -> None:
        super().__init__()
        if num_stacks < 1:
            raise ValueError(f"num_stacks must be >= 1, got {num_stacks}")
        half = max(channels // 2, 1)
        self.stem = nn.Sequential(
            nn.Conv2d(3, channels // 4, 7, stride=2, padding=3),
            nn.BatchNorm2d(channels // 4),
            nn.ReLU(inplace=True),
            Residual(channels // 4, half),
            nn.MaxPool2d(2, ceil_mode=True),
            Residual(half, half),
            Residual(half, channels),
        )
        self.hourglasses = nn.ModuleList(
            Hourglass(depth, channels, num_blocks) for _ in range(num_stacks)
        )
        self.features = nn.ModuleList(
            nn.Sequential(
                *(Residual(channels, channels) for _ in range(num_blocks)),
                nn.Conv2d(channels, channels, 1),
                nn.BatchNorm2d(channels),
                nn.ReLU(inplace=True),
            )
            for _ in range(num_stacks)
        )
        self.heads = nn.ModuleList(nn.Conv2d(channels, num_landmarks, 1) for _ in range(num_stacks))
        self.merge_features = nn.ModuleList(
            nn.Conv2d(channels, channels, 1) for _ in range(num_stacks - 1)
        )
        self.merge_heatmaps = nn.ModuleList(
            nn.Conv2d(num_landmarks, channels, 1) for _ in range(num_stacks - 1)
        )
        # PyTorch's default init, as the original Torch7 code and its PyTorch ports: Kaiming
        # normal init makes the un-normalised residual sums explode across the stacks

    def forward(self, x: Tensor) -> Tensor | list[Tensor]:
        x = self.stem(x)
        outputs = []
        for i, (hourglass, features, head) in enumerate(
            zip(self.hourglasses, self.features, self.heads)
        ):
            feat = features(hourglass(x))
            heat = head(feat)
            outputs.append(heat)
            if i < len(self.merge_features):
                x = x + self.merge_features[i](feat) + self.merge_heatmaps[i](heat)
        return outputs if self.training else outputs[-1]
