"""A small VGG-style convolutional net for 8x8 to 28x28 grayscale (or colour) images."""

from __future__ import annotations

import torch
from torch import nn

from pruning.zoo._common import init_conv_bn, positive_int


class SmallCNN(nn.Module):
    """Three 3x3 conv-BN-ReLU layers (``width``, 2x, 4x channels), one 2x2 max-pool, a linear head.

    Module names (``features.0``, ``features.3``, ``features.7``, ``classifier``) are stable:
    pruning policies are keyed by them. The single max-pool and the global average pool make
    any input of at least 2x2 pixels work; 8x8 digits and 28x28 Fashion-MNIST are the targets.
    Activations are never in-place, so forward hooks (activation-based criteria) see the
    pre-activation tensors they hooked, not a ReLU-overwritten copy.
    """

    def __init__(self, *, num_classes: int, in_channels: int, width: int) -> None:
        super().__init__()
        c1, c2, c3 = width, 2 * width, 4 * width
        # Convs feed BatchNorm, which has its own shift: a conv bias would be redundant.
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c1, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(c1),
            nn.ReLU(),
            nn.Conv2d(c1, c2, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(c2),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=2),
            nn.Conv2d(c2, c3, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(c3),
            nn.ReLU(),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.classifier = nn.Linear(c3, num_classes)
        init_conv_bn(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.classifier(self.flatten(self.pool(self.features(x))))
        return logits


def small_cnn(*, num_classes: int = 10, in_channels: int = 3, width: int = 32) -> nn.Module:
    """Build :class:`SmallCNN`: conv(in, w)-conv(w, 2w)-maxpool-conv(2w, 4w)-avgpool-linear.

    Args:
        num_classes: Size of the output layer (logits).
        in_channels: Channels of the input images (1 for grayscale).
        width: Channels of the first conv; the next two have ``2 * width`` and ``4 * width``.

    Raises:
        ZooError: An argument is not a positive integer.
    """
    return SmallCNN(
        num_classes=positive_int("num_classes", num_classes),
        in_channels=positive_int("in_channels", in_channels),
        width=positive_int("width", width),
    )
