"""Data and device plumbing shared by fine-tuning, recalibration and evaluation."""

from __future__ import annotations

from collections.abc import Sequence, Sized
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from pruning._inputs import model_device, resolve_device
from pruning.exceptions import DataError

__all__ = [
    "Data",
    "as_loader",
    "inputs_of",
    "model_device",
    "resolve_device",
    "split_batch",
]

__all__ = ["Data", "as_loader", "inputs_of", "model_device", "resolve_device", "split_batch"]

#: What the functions accept as data: a map-style dataset yielding ``(inputs, targets)``
#: (e.g. a ``TensorDataset``), or a ready ``DataLoader`` over one, used as it is.
Data = Dataset[Any] | DataLoader[Any]


def as_loader(
    data: Data, *, batch_size: int, shuffle: bool, generator: torch.Generator | None = None
) -> DataLoader[Any]:
    """A loader over ``data``; a ``DataLoader`` is returned unchanged (its own batching).

    Raises:
        DataError: ``data`` is neither, or is an empty dataset.
    """
    if isinstance(data, DataLoader):
        return data
    if isinstance(data, Dataset):
        # Checked here: a shuffling sampler refuses an empty dataset with a bare ValueError.
        if isinstance(data, Sized) and len(data) == 0:
            raise DataError("data is empty: the dataset has no samples")
        return DataLoader(data, batch_size=batch_size, shuffle=shuffle, generator=generator)
    raise DataError(
        f"data must be a torch.utils.data.Dataset or DataLoader, got {type(data).__name__}"
    )


def split_batch(batch: object) -> tuple[torch.Tensor, torch.Tensor]:
    """``(inputs, targets)`` of one batch; anything else is a :class:`DataError`."""
    if (
        isinstance(batch, Sequence)
        and len(batch) >= 2
        and isinstance(batch[0], torch.Tensor)
        and isinstance(batch[1], torch.Tensor)
    ):
        return batch[0], batch[1]
    raise DataError(
        "batches must be (inputs, targets) pairs of tensors, e.g. from a TensorDataset(x, y); "
        f"got {type(batch).__name__}"
    )


def inputs_of(batch: object) -> torch.Tensor:
    """The inputs of one batch: the batch itself, or its first element (labels unused)."""
    if isinstance(batch, torch.Tensor):
        return batch
    if isinstance(batch, Sequence) and batch and isinstance(batch[0], torch.Tensor):
        return batch[0]
    raise DataError(
        f"batches must be tensors or (inputs, ...) sequences; got {type(batch).__name__}"
    )
