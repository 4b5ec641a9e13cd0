"""The :class:`DataSplits` container and the argument checks and seeded splits behind it."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.utils.data import TensorDataset

from pruning.exceptions import DataError

MAX_VAL_FRACTION = 0.9


@dataclass(frozen=True)
class DataSplits:
    """Train, validation and (optional) test data of one classification task.

    Each split is a :class:`~torch.utils.data.TensorDataset` of ``(x, y)``: ``x`` float32 of
    shape ``[N, *input_shape]``, ``y`` int64 class labels in ``[0, num_classes)``.

    Attributes:
        train: Data to train and fine-tune on.
        val: Data to score candidates on (may hold 0 samples when ``val_fraction=0``).
        test: Held-out data for the final result, or ``None`` when the source has none.
        num_classes: Number of classes, i.e. the size of the model's output.
        input_shape: Shape of one sample, e.g. ``(1, 28, 28)``.
        name: Where the data came from: a built-in name or the tensor file's stem.
    """

    train: TensorDataset
    val: TensorDataset
    test: TensorDataset | None
    num_classes: int
    input_shape: tuple[int, ...]
    name: str


def check_val_fraction(value: object) -> float:
    """Return ``value`` as a float in [0, 0.9], else raise :class:`DataError` naming it."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DataError(f"val_fraction must be a number in [0, {MAX_VAL_FRACTION}], got {value!r}")
    if math.isnan(value) or not 0 <= value <= MAX_VAL_FRACTION:
        raise DataError(f"val_fraction must be a number in [0, {MAX_VAL_FRACTION}], got {value!r}")
    return float(value)


def check_train_subset(value: object) -> int | None:
    """Return ``value`` if it is ``None`` or an ``int`` >= 1, else raise :class:`DataError`."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DataError(f"train_subset must be None or an integer >= 1, got {value!r}")
    return value


def check_seed(value: object) -> int:
    """Return ``value`` if it is an ``int`` >= 0, else raise :class:`DataError` naming it."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise DataError(f"seed must be an integer >= 0, got {value!r}")
    return value


def permutation(n: int, seed: int) -> torch.Tensor:
    """A permutation of ``range(n)`` that depends only on ``n`` and ``seed``.

    A private generator keeps the split independent of, and harmless to, the global RNG.
    """
    generator = torch.Generator().manual_seed(seed)
    return torch.randperm(n, generator=generator)


def held_out_count(n: int, fraction: float) -> int:
    """How many of ``n`` samples a ``fraction`` holds out: rounded, at least one when the
    fraction is positive, and always leaving at least one sample behind."""
    count = round(n * fraction)
    if fraction > 0:
        count = max(count, 1)
    return max(0, min(count, n - 1))


def standardize(train: torch.Tensor, *others: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Shift and scale every tensor by the mean and std of ``train`` (one scalar each).

    Statistics come from the training split only, so nothing leaks from val or test.
    The results are float32; a constant training set is only centred (std taken as 1).
    """
    # float32 throughout: a float64 copy of 54 000 Fashion-MNIST images would take 340 MB,
    # and torch's CPU reductions are accurate enough in float32 for a mean and a std.
    std, mean = torch.std_mean(train.float())
    if not torch.isfinite(std) or std < 1e-6:
        std = torch.ones_like(std)
    return tuple((t.float() - mean).div_(std) for t in (train, *others))
