"""Baselines at the same budget: uniform ratio, and global ranking by the criterion."""

from __future__ import annotations

import torch

from pruning import group_importance
from search.budget import BudgetMeter, Limits, bisect_fraction
from search.preparation import Prepared

UNIFORM, GLOBAL, SEARCH = "uniform", "global", "search"


def uniform_ratios(prepared: Prepared) -> dict[int, float]:
    """All zero: projection onto the budget then moves every group by the same ratio."""
    return {g.id: 0.0 for g in prepared.report.groups}


def global_ratios(
    prepared: Prepared, meter: BudgetMeter, limits: Limits, *, criterion: str, max_ratio: float
) -> dict[int, float]:
    """One importance threshold over all groups' (mean-normalised) channel scores, the
    smallest that meets the budget; each group keeps at least ``min_keep``."""
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
        if fraction <= 0.0:
            return {g: 0.0 for g in scores}
        index = min(len(pooled) - 1, int(fraction * len(pooled)))
        threshold = pooled[index]
        return {g: min(max_ratio, float((s < threshold).float().mean())) for g, s in scores.items()}

    return bisect_fraction(meter, limits, at)
