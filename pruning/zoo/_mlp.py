"""A multilayer perceptron over images resampled to a fixed size."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from pruning.exceptions import ZooError
from pruning.zoo._common import positive_int


class MLP(nn.Module):
    """``AdaptiveAvgPool2d(image_size)`` -> ``Flatten`` -> hidden stack -> ``classifier``.

    The pool makes any input size work (smaller inputs are upsampled by repetition). Each
    hidden layer is ``features.{k}`` = ``Linear`` (then ``BatchNorm1d`` when ``batch_norm``)
    then ``ReLU``. With ``batch_norm``, training needs batches of more than one sample.
    """

    def __init__(
        self,
        *,
        num_classes: int,
        in_channels: int,
        image_size: int,
        hidden: tuple[int, ...],
        batch_norm: bool,
    ) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(image_size)
        self.flatten = nn.Flatten()
        layers: list[nn.Module] = []
        width = in_channels * image_size * image_size
        for units in hidden:
            # A bias before BatchNorm would be cancelled by its mean subtraction.
            layers.append(nn.Linear(width, units, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm1d(units))
            layers.append(nn.ReLU())
            width = units
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.classifier(self.features(self.flatten(self.pool(x))))
        return logits


def _hidden_sizes(value: object) -> tuple[int, ...]:
    # JSON job specs deliver lists, so any non-string sequence of positive ints is accepted.
    if isinstance(value, str | bytes) or not isinstance(value, Sequence) or not value:
        raise ZooError(f"hidden must be a non-empty sequence of positive integers, got {value!r}")
    return tuple(positive_int(f"hidden[{i}]", units) for i, units in enumerate(value))


def mlp(
    *,
    num_classes: int = 10,
    in_channels: int = 3,
    image_size: int = 28,
    hidden: Sequence[int] = (256, 128),
    batch_norm: bool = True,
) -> nn.Module:
    """Build :class:`MLP`: pool to ``image_size`` x ``image_size``, flatten, hidden layers, head.

    Args:
        num_classes: Size of the output layer (logits).
        in_channels: Channels of the input images.
        image_size: Side of the square the input is average-pooled (or upsampled) to.
        hidden: Units of each hidden ``Linear`` layer, first to last (a list is accepted).
        batch_norm: Put ``BatchNorm1d`` between each hidden ``Linear`` and its ``ReLU``.

    Raises:
        ZooError: An argument is out of range or of the wrong type.
    """
    if not isinstance(batch_norm, bool):
        raise ZooError(f"batch_norm must be a bool, got {batch_norm!r}")
    return MLP(
        num_classes=positive_int("num_classes", num_classes),
        in_channels=positive_int("in_channels", in_channels),
        image_size=positive_int("image_size", image_size),
        hidden=_hidden_sizes(hidden),
        batch_norm=batch_norm,
    )
