"""Top-1 accuracy and mean cross-entropy of a classifier on a dataset."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from pruning.exceptions import DataError
from pruning.finetune._data import Data, as_loader, model_device, resolve_device, split_batch

__all__ = ["Evaluation", "evaluate"]


@dataclass(frozen=True)
class Evaluation:
    """Mean cross-entropy ``loss`` and top-1 ``accuracy`` (in [0, 1]) over ``samples``."""

    loss: float
    accuracy: float
    samples: int


def evaluate(
    model: nn.Module,
    data: Data,
    *,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
) -> Evaluation:
    """Evaluate a classifier: mean cross-entropy and top-1 accuracy over all of ``data``.

    Runs in eval mode under ``torch.inference_mode`` and restores every submodule's
    train/eval flag afterwards. The model is not moved: if it lives on another device
    than ``device``, a deep copy is evaluated. ``data`` yields ``(inputs, targets)`` with
    integer class targets; a ``DataLoader`` is used as it is (``batch_size`` then unused).

    Raises:
        DataError: ``data`` is empty or does not yield ``(inputs, targets)`` pairs.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    target = resolve_device(device)
    if model_device(model) != target:
        model = copy.deepcopy(model).to(target)
    loader = as_loader(data, batch_size=batch_size, shuffle=False)
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        loss_sum, correct, samples = _accumulate(model, loader, target)
    finally:
        for module, training in modes:
            module.training = training
    if samples == 0:
        raise DataError("cannot evaluate on empty data: it yielded no samples")
    return Evaluation(loss=loss_sum / samples, accuracy=correct / samples, samples=samples)


def _accumulate(
    model: nn.Module, loader: DataLoader[Any], device: torch.device
) -> tuple[float, int, int]:
    """Summed loss, correct predictions and samples over the loader."""
    # Sums stay on the device: one synchronisation at the end, not one per batch.
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    samples = 0
    with torch.inference_mode():
        for batch in loader:
            inputs, targets = split_batch(batch)
            inputs, targets = inputs.to(device), targets.to(device)
            logits = model(inputs)
            loss_sum += F.cross_entropy(logits.float(), targets, reduction="sum")
            correct += (logits.argmax(dim=1) == targets).sum()
            samples += targets.shape[0]
    return float(loss_sum), int(correct), samples
