"""The fixed data every stage scores on: a search split carved from the training data.

The validation split chooses the job's final model, so no earlier stage may look at it:
screening and the rungs score candidates on ``search`` (held-out training images), and
adaptive BatchNorm and the rungs' fine-tunes use ``fit`` (the rest of the training data).
Both are the same in every process (a permutation seeded by the spec), which is what lets
several workers share a stage and compare their candidates on the same images.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.data import TensorDataset

from search.preparation import Prepared

# The search split never takes more than this share of the training data.
MAX_SEARCH_SHARE = 0.2


@dataclass(frozen=True)
class StageData:
    """``fit``: training data for adaptive BN and rung fine-tunes; ``search``: held-out
    training images that screening and the rungs score on; ``full``: all training data
    (the finals)."""

    fit: TensorDataset
    search: TensorDataset
    full: TensorDataset


def stage_data(prepared: Prepared) -> StageData:
    """Split ``prepared``'s training data into ``fit`` and ``search`` (seeded, fixed)."""
    train = prepared.data.train
    x, y = train.tensors
    options = prepared.spec.search
    size = max(1, min(options.search_split, int(MAX_SEARCH_SHARE * len(train))))
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(options.seed))
    held, rest = order[:size], order[size:]
    return StageData(
        fit=TensorDataset(x[rest], y[rest]), search=TensorDataset(x[held], y[held]), full=train
    )
