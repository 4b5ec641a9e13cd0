"""Gradients for the Taylor criterion, from a small sample of labelled data."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any, TypeAlias

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from pruning._inputs import model_device
from pruning.exceptions import PolicyError

# A batch ``(inputs, targets)``, a Dataset of samples, or an iterable of batches (a DataLoader).
DataSample: TypeAlias = tuple[torch.Tensor, torch.Tensor] | Dataset[Any] | Iterable[Any]

_MAX_BATCHES = 4


def accumulate_gradients(model: nn.Module, data: DataSample | None) -> None:
    """Fill ``.grad`` of every parameter with the cross-entropy gradient on ``data``."""
    if data is None:
        raise PolicyError(
            "criterion 'taylor' ranks by gradient and needs labelled data: pass "
            "data=(inputs, targets) or a DataLoader"
        )
    device = model_device(model)
    model.zero_grad(set_to_none=True)
    seen = 0
    with torch.enable_grad():
        for inputs, targets in _batches(data):
            loss = F.cross_entropy(model(inputs.to(device)), targets.to(device))
            loss.backward()  # type: ignore[no-untyped-call]
            seen += 1
    if seen == 0:
        raise PolicyError("criterion 'taylor' was given data with no batches")


def clear_gradients(model: nn.Module) -> None:
    model.zero_grad(set_to_none=True)


def _batches(data: DataSample) -> Iterable[Any]:
    if isinstance(data, tuple) and len(data) == 2 and isinstance(data[0], torch.Tensor):
        return [data]
    if isinstance(data, Dataset) and not isinstance(data, Iterable):
        return itertools.islice(DataLoader(data, batch_size=64), _MAX_BATCHES)
    return itertools.islice(data, _MAX_BATCHES)
