"""Baselines at the same budget: uniform ratio, global ranking by the criterion (and the
sensitivity allocation, see :mod:`search.stages`)."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from pruning import group_importance
from search.budget import BudgetMeter, Limits, bisect_fraction, project
from search.preparation import Prepared

__all__ = [
    "BASELINES",
    "GLOBAL",
    "SEARCH",
    "SENSITIVITY",
    "UNIFORM",
    "global_ratios",
    "uniform_ratios",
]

UNIFORM, GLOBAL, SENSITIVITY, SEARCH = "uniform", "global", "sensitivity", "search"
BASELINES = (UNIFORM, GLOBAL, SENSITIVITY)


def uniform_ratios(
    meter: BudgetMeter, limits: Limits, *, max_ratio: Mapping[int, float]
) -> dict[int, float]:
    """The same ratio for every group (up to its floor), the smallest meeting the budget."""
    zeros = {g: 0.0 for g in max_ratio}
    return project(meter, limits, zeros, max_ratio=max_ratio)[0]


def global_ratios(
    prepared: Prepared,
    meter: BudgetMeter,
    limits: Limits,
    *,
    criterion: str,
    max_ratio: Mapping[int, float],
) -> dict[int, float]:
    """One importance threshold over all groups' (mean-normalised) channel scores, the
    smallest that meets the budget; each group keeps at least its floor."""
    data = prepared.data.train.tensors
    scores = group_importance(
        prepared.model,
        prepared.example_inputs,
        criterion=criterion,
        report=prepared.report,
        data=(data[0][:256], data[1][:256]),
        seed=prepared.spec.search.seed,
    )
    pooled = torch.sort(torch.cat(list(scores.values()))).values

    def at(fraction: float) -> dict[int, float]:
        if fraction >= 1.0:
            return dict(max_ratio)
        if fraction <= 0.0:
            return {g: 0.0 for g in scores}
        index = min(len(pooled) - 1, int(fraction * len(pooled)))
        threshold = pooled[index]
        return {
            g: min(max_ratio[g], float((s < threshold).float().mean())) for g, s in scores.items()
        }

    return bisect_fraction(meter, limits, at)
