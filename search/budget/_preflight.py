"""Refusing a budget no policy within the bounds can meet, before any trial runs."""

from __future__ import annotations

from collections.abc import Mapping

from search.budget._limits import Figures, Limits
from search.budget._meter import BudgetMeter
from search.exceptions import BudgetError

_UNITS = {"max_params": "parameters", "max_macs": "MACs", "max_latency_ms": "ms"}


def check_reachable(
    meter: BudgetMeter, limits: Limits, *, max_ratio: Mapping[int, float]
) -> Figures:
    """Measure the most-pruned policy (every group at its floor, ``max_ratio``); refuse if
    it fails.

    Returns its figures (the smallest achievable). The latency measured here also seeds
    the latency model with its second point (the unpruned model is the first).

    Raises:
        BudgetError: naming the budget field and the smallest figure achievable.
    """
    smallest = meter.measure_signature(dict(max_ratio))
    reference = meter.prepared.reference
    options = meter.prepared.spec.search
    values = {
        "max_params": (smallest.params, reference.params),
        "max_macs": (smallest.macs, reference.macs),
        "max_latency_ms": (smallest.latency_ms, reference.latency_ms),
    }
    for name, excess in limits.violations(smallest).items():
        if excess <= 0.0:
            continue
        value, full = values[name]
        assert value is not None
        share = f" ({value / full:.3g} of the unpruned model)" if full else ""
        raise BudgetError(
            f"no policy within min_keep={options.min_keep:g} and "
            f"min_channels={options.min_channels} meets it: the smallest "
            f"achievable is {value:.6g} {_UNITS[name]}{share}; the limit is "
            f"{getattr(limits, name):.6g}",
            field=f"budget.{name}",
            smallest=float(value),
        )
    return smallest
