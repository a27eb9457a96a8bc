"""ResNet-18 / ResNet-50 backbones (He et al.), written here; they return C2..C5.

``(B, 3, H, W)`` -> ``[C2, C3, C4, C5]`` at strides 4, 8, 16, 32 with
``base_width * (1, 2, 4, 8) * expansion`` channels (expansion 1 for ResNet-18, 4 for ResNet-50:
64/128/256/512 and 256/512/1024/2048 with the default ``base_width=64``).
"""

from __future__ import annotations

from torch import Tensor, nn

from otmark.models.layers import BasicBlock, Bottleneck, init_kaiming_, make_layer

#: depth -> (block type, blocks per stage)
RESNET_SPECS: dict[int, tuple[type[nn.Module], tuple[int, int, int, int]]] = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
}


class ResNetBackbone(nn.Module):
    """ResNet without the classifier: 7x7/2 conv + BN + ReLU + 3x3/2 max-pool, then 4 stages.

    Args:
        depth: 18, 34, 50 or 101.
        base_width: channels of the stem and of the first stage's blocks (64).
        blocks: optional override of the blocks per stage (for tiny test models).

    Attributes:
        channels: output channels of C2..C5.
    """

    def __init__(
        self, depth: int = 50, base_width: int = 64, blocks: tuple[int, ...] | None = None
    ) -> None:
        super().__init__()
        if depth not in RESNET_SPECS:
            raise ValueError(f"unsupported ResNet depth {depth}; valid: {sorted(RESNET_SPECS)}")
        block, default_blocks = RESNET_SPECS[depth]
        blocks = tuple(blocks) if blocks is not None else default_blocks
        if len(blocks) != 4:
            raise ValueError(f"blocks must list 4 stages, got {blocks!r}")
        self.stem = nn.Sequential(
            nn.Conv2d(3, base_width, kernel_size=7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(base_width),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
        )
        ch = base_width
        self.stages = nn.ModuleList()
        self.channels: list[int] = []
        for i, n in enumerate(blocks):
            layer, ch = make_layer(block, ch, base_width * 2**i, n, stride=1 if i == 0 else 2)
            self.stages.append(layer)
            self.channels.append(ch)
        init_kaiming_(self)

    def forward(self, x: Tensor) -> list[Tensor]:
        x = self.stem(x)
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return feats
