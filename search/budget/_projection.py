"""Projecting per-group prune ratios onto the budget with one shared scale."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from search.budget._limits import Figures, Limits
from search.budget._meter import BudgetMeter

Ratios = dict[int, float]
_ITERATIONS = 16


def along_path(
    ratios: Mapping[int, float], max_ratio: Mapping[int, float]
) -> Callable[[float], Ratios]:
    """The projection path through ``ratios``: ``alpha`` in [0, 2].

    From 0 to 1 every ratio is scaled by ``alpha`` (0 prunes nothing, 1 is the candidate);
    from 1 to 2 every ratio moves linearly towards 1 and stops at its group's ``max_ratio``
    (its channel floor; 2 prunes every group down to it), so a uniform start stays uniform
    until groups reach their floors. Costs fall monotonically along it, so bisection finds where it
    crosses the budget, and groups the candidate spared stay spared until alpha passes 1.
    """

    # A candidate never prunes a group past its floor, whatever it was given.
    start = {g: min(ratios.get(g, 0.0), top) for g, top in max_ratio.items()}

    def at(alpha: float) -> Ratios:
        if alpha <= 1.0:
            return {g: alpha * r for g, r in start.items()}
        t = alpha - 1.0
        return {g: min(max_ratio[g], r + t * (1.0 - r)) for g, r in start.items()}

    return at


def project(
    meter: BudgetMeter,
    limits: Limits,
    ratios: Mapping[int, float],
    *,
    max_ratio: Mapping[int, float],
) -> tuple[Ratios, Figures]:
    """The point of the path through ``ratios`` closest to pruning nothing that meets the
    budget (by counted params and MACs, and predicted latency), with its figures.
    ``max_ratio`` is each group's largest prune ratio (its channel floor)."""
    at = along_path(ratios, max_ratio)
    cost = meter.predicted if limits.uses_latency else meter.counts
    if limits.feasible(cost(at(0.0))):
        return at(0.0), cost(at(0.0))
    low, high = 0.0, 2.0
    for _ in range(_ITERATIONS):
        if meter.signature(at(low)) == meter.signature(at(high)):
            break
        middle = (low + high) / 2.0
        if limits.feasible(cost(at(middle))):
            high = middle
        else:
            low = middle
    return at(high), cost(at(high))


def bisect_fraction(
    meter: BudgetMeter,
    limits: Limits,
    policy_at: Callable[[float], Ratios],
) -> Ratios:
    """Smallest ``q`` in [0, 1] whose ``policy_at(q)`` meets the budget (costs fall with q)."""
    cost = meter.predicted if limits.uses_latency else meter.counts
    low, high = 0.0, 1.0
    for _ in range(_ITERATIONS):
        if meter.signature(policy_at(low)) == meter.signature(policy_at(high)):
            break
        middle = (low + high) / 2.0
        if limits.feasible(cost(policy_at(middle))):
            high = middle
        else:
            low = middle
    return policy_at(high)
