"""The CIFAR ResNet-20 of He et al. (2016), with projection shortcuts."""

from __future__ import annotations

import torch
from torch import nn

from pruning.zoo._common import init_conv_bn, positive_int

_BLOCKS_PER_STAGE = 3  # ResNet-20: 1 stem conv + 3 stages x 3 blocks x 2 convs + 1 linear


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers plus a shortcut, added before the final ReLU.

    Where the shape changes (stride or width), the shortcut is a 1x1 conv + BN projection
    ("option B"), not the zero-padding of the original CIFAR variant: Torch-Pruning's dependency
    graph couples channels through module ops, and a padded identity would hide the coupling.
    """

    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes),
            )
        self.relu2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out = out + self.shortcut(x)
        result: torch.Tensor = self.relu2(out)
        return result


class ResNet20(nn.Module):
    """Stem conv, three stages of three :class:`BasicBlock` (``width``, 2x, 4x channels), head.

    Stages 2 and 3 downsample by 2 in their first block, so an 8x8 input ends at 2x2 and a
    32x32 one at 8x8 before the global average pool; any input of at least 1x1 works.
    """

    def __init__(self, *, num_classes: int, in_channels: int, width: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU()
        self.layer1 = self._stage(width, width, stride=1)
        self.layer2 = self._stage(width, 2 * width, stride=2)
        self.layer3 = self._stage(2 * width, 4 * width, stride=2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(4 * width, num_classes)
        init_conv_bn(self)

    @staticmethod
    def _stage(in_planes: int, planes: int, *, stride: int) -> nn.Sequential:
        blocks = [BasicBlock(in_planes, planes, stride)]
        blocks += [BasicBlock(planes, planes, 1) for _ in range(_BLOCKS_PER_STAGE - 1)]
        return nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        logits: torch.Tensor = self.fc(self.flatten(self.pool(x)))
        return logits


def resnet20(*, num_classes: int = 10, in_channels: int = 3, width: int = 16) -> nn.Module:
    """Build the CIFAR ResNet-20 (about 0.27 M parameters at the default width of 16).

    Args:
        num_classes: Size of the output layer (logits).
        in_channels: Channels of the input images.
        width: Channels of the stem and first stage; stages 2 and 3 use 2x and 4x.

    Raises:
        ZooError: An argument is not a positive integer.
    """
    return ResNet20(
        num_classes=positive_int("num_classes", num_classes),
        in_channels=positive_int("in_channels", in_channels),
        width=positive_int("width", width),
    )
