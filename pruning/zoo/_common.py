"""Argument checks and weight initialisation shared by the zoo builders."""

from __future__ import annotations

import math

from torch import nn

from pruning.exceptions import ZooError


def positive_int(name: str, value: object) -> int:
    """Return ``value`` if it is an ``int`` > 0, else raise :class:`ZooError` naming ``name``.

    ``bool`` is refused even though it is an ``int`` subclass: ``num_classes=True`` is a bug.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ZooError(f"{name} must be a positive integer, got {value!r}")
    return value


def positive_float(name: str, value: object) -> float:
    """Return ``value`` as a finite ``float`` > 0, else raise :class:`ZooError` naming it."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ZooError(f"{name} must be a positive number, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ZooError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def probability(name: str, value: object) -> float:
    """Return ``value`` as a ``float`` in [0, 1), else raise :class:`ZooError` naming it."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
        raise ZooError(f"{name} must be a number in [0, 1), got {value!r}")
    return float(value)


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round ``value`` to the nearest multiple of ``divisor``, never below ``divisor``.

    As in the MobileNet papers, the result never drops more than 10% below ``value``,
    so a small ``width_mult`` cannot collapse a layer far below its intended width.
    """
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def init_conv_bn(model: nn.Module) -> None:
    """Kaiming-normal convolutions (fan-out, ReLU gain), BatchNorm to identity.

    Linear layers keep PyTorch's default init. Every draw comes from the global RNG, so
    ``torch.manual_seed`` before building makes the weights reproducible.
    """
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d | nn.BatchNorm1d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
