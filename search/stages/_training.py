"""One fine-tune recipe for the rungs and the finals, with common random numbers.

Every candidate of a stage trains with the same seed, hence the same data order and the
same random state: two candidates' scores then differ by their policies, not by SGD noise
(the noise between two seeds of one policy was a quarter of the whole uniform-to-unpruned
gap in our runs).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import nn
from torch.utils.data import TensorDataset

from pruning import EpochMetrics, finetune, recalibrate_bn
from search.callbacks import EpochEvent, SearchCallback
from search.preparation import Prepared
from search.stages._screening import check_stop


def train(
    prepared: Prepared,
    model: nn.Module,
    data: TensorDataset,
    *,
    seed: int,
    phase: str,
    number: int,
    callbacks: Sequence[SearchCallback],
    steps: int | None = None,
    epochs: int | None = None,
) -> None:
    """Recalibrate BatchNorm, then fine-tune ``model`` in place for ``steps`` batches or
    ``epochs`` epochs (one of them), distilling from the reference when the spec says so.
    Each epoch end goes to the callbacks as an :class:`EpochEvent` of ``phase``, and
    cancellation is checked there."""
    options = prepared.spec.finetune
    recalibrate_bn(
        model,
        data,
        batches=prepared.spec.search.calibration_batches,
        batch_size=options.batch_size,
    )
    max_batches = None
    if steps is not None:
        per_epoch = max(1, math.ceil(len(data) / options.batch_size))
        epochs = math.ceil(steps / per_epoch)
        max_batches = math.ceil(steps / epochs)
    assert epochs is not None, "give steps or epochs"

    def on_epoch(metrics: EpochMetrics) -> None:
        for callback in callbacks:
            callback.on_epoch_end(EpochEvent(number=number, phase=phase, metrics=metrics))
        check_stop(callbacks)

    finetune(
        model,
        data,
        epochs=epochs,
        lr=options.lr,
        optimizer=options.optimizer,
        batch_size=options.batch_size,
        teacher=prepared.model if options.distill else None,
        callback=on_epoch,
        seed=seed,
        max_batches=max_batches,
    )
