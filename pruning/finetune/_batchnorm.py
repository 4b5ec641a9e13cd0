"""Adaptive BatchNorm recalibration: re-estimate running statistics after pruning."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.utils.data import DataLoader

from pruning.exceptions import DataError
from pruning.finetune._data import Data, as_loader, inputs_of, resolve_device

__all__ = ["recalibrate_bn"]

# Fixed, so that recalibrating the same candidate twice gives the same statistics.
_SHUFFLE_SEED = 0


def recalibrate_bn(
    model: nn.Module,
    data: Data,
    *,
    batches: int = 50,
    batch_size: int = 128,
    device: str | torch.device = "cpu",
) -> nn.Module:
    """Re-estimate the running statistics of every BatchNorm layer from ``data``, in place.

    Pruning removes channels that fed each BatchNorm, so its stored mean and variance no
    longer describe its inputs; re-estimating them recovers much of the accuracy at the
    cost of a few forward passes (adaptive BN). Each BatchNorm (1d/2d/3d, also Sync and
    Lazy) that tracks running stats is reset and switched to a cumulative average
    (``momentum=None``), ``batches`` batches are forwarded under ``no_grad`` with only the
    BatchNorm layers in train mode (dropout stays off, as at inference), and the momenta
    are restored. If anything fails, the previous statistics are restored too.

    Args:
        model: Recalibrated in place and moved to ``device``.
        data: Dataset (shuffled with a fixed seed) or ``DataLoader`` (used as it is); a
            batch may be a tensor or a sequence whose first element is the inputs.
        batches: Batches to forward at most.
        batch_size: Batch size when ``data`` is a dataset.
        device: Where the forward passes run.

    Returns:
        The same model, in eval mode. Without BatchNorm layers nothing is forwarded.

    Raises:
        DataError: ``data`` yielded no batch.
    """
    if batches < 1:
        raise ValueError(f"batches must be at least 1, got {batches}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    target = resolve_device(device)
    model.to(target)
    norms = [m for m in model.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]
    if not norms:
        return model.eval()
    generator = torch.Generator().manual_seed(_SHUFFLE_SEED)
    loader = as_loader(data, batch_size=batch_size, shuffle=True, generator=generator)
    saved = [(bn, bn.momentum, {k: v.clone() for k, v in _stats(bn).items()}) for bn in norms]
    try:
        _reestimate(model, norms, loader, batches=batches, device=target)
    except BaseException:
        for bn, _, stats in saved:
            for name, value in stats.items():
                _stats(bn)[name].copy_(value)
        raise
    finally:
        for bn, momentum, _ in saved:
            bn.momentum = momentum
        model.eval()
    return model


def _reestimate(
    model: nn.Module,
    norms: list[_BatchNorm],
    loader: DataLoader[Any],
    *,
    batches: int,
    device: torch.device,
) -> None:
    """Reset the statistics and forward up to ``batches`` batches in cumulative mode."""
    model.eval()
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative moving average: every batch weighs the same
        bn.train()
    seen = 0
    with torch.no_grad():
        for batch in loader:
            if seen == batches:
                break
            model(inputs_of(batch).to(device))
            seen += 1
    if seen == 0:
        raise DataError("cannot recalibrate BatchNorm on empty data: it yielded no batch")


def _stats(bn: _BatchNorm) -> dict[str, torch.Tensor]:
    """The running-statistics buffers of one BatchNorm layer."""
    return {
        name: buffer
        for name, buffer in (
            ("running_mean", bn.running_mean),
            ("running_var", bn.running_var),
            ("num_batches_tracked", bn.num_batches_tracked),
        )
        if buffer is not None
    }
