"""Models written the way users write them, not the way our zoo does (for analysis tests)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class MyConv(nn.Conv2d):
    """A user's conv subclass (weight standardisation in its forward)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight
        w = (w - w.mean(dim=(1, 2, 3), keepdim=True)) / (w.std(dim=(1, 2, 3), keepdim=True) + 1e-5)
        return F.conv2d(x, w, self.bias, self.stride, self.padding, self.dilation, self.groups)


class DepthwiseNet(nn.Module):
    """Depthwise-separable blocks built from a custom conv class, BN after the activation."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.stem = MyConv(3, 16, 3, padding=1)
        self.stem_bn = nn.BatchNorm2d(16)
        self.blocks = nn.Sequential(*[self._block(16 * 2**i, 16 * 2 ** (i + 1)) for i in range(2)])
        self.head = nn.Linear(64, num_classes)

    @staticmethod
    def _block(cin: int, cout: int) -> nn.Sequential:
        return nn.Sequential(
            MyConv(cin, cin, 3, padding=1, groups=cin),
            nn.ReLU(),
            nn.BatchNorm2d(cin),
            MyConv(cin, cout, 1),
            nn.ReLU(),
            nn.BatchNorm2d(cout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(F.relu(self.stem_bn(self.stem(x))))
        return self.head(F.adaptive_avg_pool2d(x, 1).flatten(1))


class BranchyNet(nn.Module):
    """Inception-like concat of two branches, then a residual add."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 24, 3, padding=1)
        self.branch_a = nn.Conv2d(24, 12, 1)
        self.branch_b = nn.Sequential(
            nn.Conv2d(24, 8, 1), nn.ReLU(), nn.Conv2d(8, 12, 3, padding=1)
        )
        self.bn = nn.BatchNorm2d(24)
        self.mix = nn.Conv2d(24, 24, 3, padding=1)
        self.fc = nn.Linear(24, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.stem(x))
        y = F.relu(self.bn(torch.cat([self.branch_a(x), self.branch_b(x)], dim=1)))
        x = x + self.mix(y)
        return self.fc(x.mean(dim=(2, 3)))


class HardcodedAudioNet(nn.Module):
    """A 1-D net whose forward hard-codes the flattened width (32 channels x 16 steps)."""

    def __init__(self, num_classes: int = 5) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(1, 16, 5, padding=2)
        self.bn1 = nn.BatchNorm1d(16)
        self.conv2 = nn.Conv1d(16, 32, 5, padding=2, stride=4)
        self.fc1 = nn.Linear(32 * 16, 64)
        self.fc2 = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.conv2(x))
        x = x.reshape(x.shape[0], 32 * 16)
        return self.fc2(F.relu(self.fc1(x)))


class Untraceable(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x).detach()


class CustomOpNet(nn.Module):
    """A layer Torch-Pruning has no rule for: a raw weight matrix used with F.conv2d."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.mixer = RawMixer(8, 8)
        self.fc = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.mixer(F.relu(self.conv(x)))
        return self.fc(x.mean(dim=(2, 3)))


class RawMixer(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, 1, 1) * 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight)
