"""MobileNetV2 (Sandler et al., 2018), reduced and re-strided for 8x8 to 32x32 inputs."""

from __future__ import annotations

import torch
from torch import nn

from pruning.zoo._common import init_conv_bn, make_divisible, positive_float, positive_int
from pruning.zoo._common import probability as check_probability

# (expansion t, output channels c, repeats n, stride of the first repeat s), as in the paper's
# Table 2, shortened for small images: the ImageNet net has a stride-2 stem and four stride-2
# stages (224 px -> 7 px) and 17 blocks. Here the stem has stride 1 and only the 24-, 32- and
# 64-channel stages downsample (28 px -> 14 -> 7 -> 4; 8 px -> 4 -> 2 -> 1), there are 11
# blocks, the 320-channel stage is dropped and the last 1x1 conv has 640 channels, not 1280.
_SETTING: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 2, 2),
    (6, 64, 3, 2),
    (6, 96, 2, 1),
    (6, 160, 1, 1),
)
_STEM_CHANNELS = 32
_LAST_CHANNELS = 640
_DIVISOR = 8


class ConvBNReLU6(nn.Sequential):
    """``Conv2d`` (no bias) -> ``BatchNorm2d`` -> ``ReLU6``; ``groups=in_planes`` is depthwise."""

    def __init__(
        self, in_planes: int, out_planes: int, *, kernel_size: int, stride: int, groups: int = 1
    ) -> None:
        super().__init__(
            nn.Conv2d(
                in_planes,
                out_planes,
                kernel_size,
                stride=stride,
                padding=kernel_size // 2,
                groups=groups,
                bias=False,
            ),
            nn.BatchNorm2d(out_planes),
            nn.ReLU6(),
        )


class InvertedResidual(nn.Module):
    """1x1 expansion (skipped when t = 1), 3x3 depthwise, linear 1x1 projection, residual add.

    The residual is used only when stride is 1 and the width is unchanged, as in the paper.
    """

    def __init__(self, in_planes: int, out_planes: int, *, stride: int, expand: int) -> None:
        super().__init__()
        hidden = in_planes * expand
        self.use_residual = stride == 1 and in_planes == out_planes
        layers: list[nn.Module] = []
        if expand != 1:
            layers.append(ConvBNReLU6(in_planes, hidden, kernel_size=1, stride=1))
        layers += [
            ConvBNReLU6(hidden, hidden, kernel_size=3, stride=stride, groups=hidden),
            nn.Conv2d(hidden, out_planes, 1, bias=False),
            nn.BatchNorm2d(out_planes),  # no activation: the projection is linear
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.conv(x)
        return x + out if self.use_residual else out


class MobileNetV2(nn.Module):
    """``features`` (stem, inverted residuals, last 1x1 conv), global average pool, ``classifier``.

    ``classifier`` is ``Dropout(dropout) -> Linear``. See ``_SETTING`` for which stages
    downsample; the net accepts any input of at least 1x1 pixels.
    """

    def __init__(
        self, *, num_classes: int, in_channels: int, width_mult: float, dropout: float
    ) -> None:
        super().__init__()
        in_planes = make_divisible(_STEM_CHANNELS * width_mult, _DIVISOR)
        # Like the paper, the last conv widens with width_mult > 1 but never narrows below 640.
        last = make_divisible(_LAST_CHANNELS * max(1.0, width_mult), _DIVISOR)
        layers: list[nn.Module] = [ConvBNReLU6(in_channels, in_planes, kernel_size=3, stride=1)]
        for expand, channels, repeats, stride in _SETTING:
            out_planes = make_divisible(channels * width_mult, _DIVISOR)
            for i in range(repeats):
                layers.append(
                    InvertedResidual(
                        in_planes, out_planes, stride=stride if i == 0 else 1, expand=expand
                    )
                )
                in_planes = out_planes
        layers.append(ConvBNReLU6(in_planes, last, kernel_size=1, stride=1))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(last, num_classes))
        init_conv_bn(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.classifier(self.flatten(self.pool(self.features(x))))
        return logits


def mobilenet_v2(
    *,
    num_classes: int = 10,
    in_channels: int = 3,
    width_mult: float = 1.0,
    dropout: float = 0.2,
) -> nn.Module:
    """Build a small-input MobileNetV2 (about 0.62 M parameters at ``width_mult=1``).

    Stem conv 3x3 stride 1 (32 channels), then inverted-residual stages (t, c, n, s):
    (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 2, 2), (6, 64, 3, 2), (6, 96, 2, 1), (6, 160, 1, 1),
    a 1x1 conv to 640 channels, global average pool, dropout and a linear layer. Only three
    stages downsample, so 28x28 inputs end at 4x4 and 8x8 inputs at 1x1.

    Args:
        num_classes: Size of the output layer (logits).
        in_channels: Channels of the input images.
        width_mult: Multiplies every layer's width; results are rounded to multiples of 8.
        dropout: Dropout probability before the linear layer, in [0, 1).

    Raises:
        ZooError: An argument is out of range or of the wrong type.
    """
    return MobileNetV2(
        num_classes=positive_int("num_classes", num_classes),
        in_channels=positive_int("in_channels", in_channels),
        width_mult=positive_float("width_mult", width_mult),
        dropout=check_probability("dropout", dropout),
    )
