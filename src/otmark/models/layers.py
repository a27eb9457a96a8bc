"""Building blocks shared by the models: 3x3/1x1 convolutions, residual blocks, weight init.

All blocks keep the spatial layout ``(B, C, H, W)``; a block with ``stride=2`` halves ``H`` and
``W`` (rounding up).
"""

from __future__ import annotations

from torch import Tensor, nn


def conv3x3(in_ch: int, out_ch: int, stride: int = 1) -> nn.Conv2d:
    """3x3 convolution, padding 1, no bias (a BatchNorm follows)."""
    return nn.Conv2d(in_ch, out_ch, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_ch: int, out_ch: int, stride: int = 1) -> nn.Conv2d:
    """1x1 convolution, no bias (a BatchNorm follows)."""
    return nn.Conv2d(in_ch, out_ch, kernel_size=1, stride=stride, bias=False)


def conv_bn(in_ch: int, out_ch: int, kernel: int, stride: int = 1, relu: bool = True) -> nn.Module:
    """``Conv(kernel, stride, same padding) -> BN [-> ReLU]`` as one ``nn.Sequential``."""
    layers: list[nn.Module] = [
        nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(out_ch),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class BasicBlock(nn.Module):
    """ResNet basic block: ``conv3x3-BN-ReLU-conv3x3-BN`` + shortcut, then ReLU.

    ``(B, in_ch, H, W) -> (B, planes, H/stride, W/stride)``; a 1x1 conv + BN shortcut is added
    when the shape changes.
    """

    expansion = 1

    def __init__(self, in_ch: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = conv3x3(in_ch, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_ch != planes:
            self.downsample = nn.Sequential(conv1x1(in_ch, planes, stride), nn.BatchNorm2d(planes))

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """ResNet bottleneck: ``1x1 (planes) - 3x3 (planes, stride) - 1x1 (4 * planes)`` + shortcut.

    ``(B, in_ch, H, W) -> (B, 4 * planes, H/stride, W/stride)``.
    """

    expansion = 4

    def __init__(self, in_ch: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        out_ch = planes * self.expansion
        self.conv1 = conv1x1(in_ch, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, out_ch)
        self.bn3 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_ch != out_ch:
            self.downsample = nn.Sequential(conv1x1(in_ch, out_ch, stride), nn.BatchNorm2d(out_ch))

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


def make_layer(block: type[nn.Module], in_ch: int, planes: int, blocks: int, stride: int = 1):
    """``blocks`` residual blocks, the first one with ``stride``; returns ``(layer, out_ch)``."""
    expansion = block.expansion  # type: ignore[attr-defined]
    layers = [block(in_ch, planes, stride)]
    layers += [block(planes * expansion, planes) for _ in range(blocks - 1)]
    return nn.Sequential(*layers), planes * expansion


def init_normal_(module: nn.Module, std: float = 0.001) -> None:
    """HRNet's init: every conv/deconv weight ~ N(0, std), biases 0; BatchNorm weight 1, bias 0."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
            nn.init.normal_(m.weight, std=std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def init_kaiming_(module: nn.Module) -> None:
    """ResNet's init: conv weights Kaiming-normal (fan_out, ReLU), biases 0; BN weight 1, bias 0."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
