from __future__ import annotations

from pathlib import Path

import pytest

from search import BudgetError, prepare
from search.budget import BudgetMeter, Limits, check_reachable, project
from search.preparation import Prepared
from search.space import max_ratios
from search.spec import BudgetSpec
from tests.search.conftest import tiny_spec


@pytest.fixture(scope="module")
def prepared(reference_weights: Path) -> Prepared:
    return prepare(tiny_spec(), reference_weights=reference_weights)


def _floors(prepared: Prepared) -> dict[int, float]:
    return max_ratios(prepared.report, prepared.spec.search)


def test_fractions_are_relative_and_large_numbers_absolute() -> None:
    budget = BudgetSpec(max_macs=0.25, max_params=5000)
    limits = Limits.from_spec(budget, params=10_000, macs=1_000_000)
    assert limits.max_macs == 250_000
    assert limits.max_params == 5000


def test_projection_meets_the_budget_by_counted_figures(prepared: Prepared) -> None:
    limits = Limits.from_spec(
        prepared.spec.budget, params=prepared.reference.params, macs=prepared.reference.macs
    )
    meter = BudgetMeter(prepared, round_to=1)
    groups = [g.id for g in prepared.report.groups]
    for ratios in ({g: 0.0 for g in groups}, {g: 0.9 for g in groups}, {groups[0]: 0.5}):
        _, figures = project(meter, limits, ratios, max_ratio=_floors(prepared))
        assert limits.feasible(figures)
        assert figures.macs <= limits.max_macs  # type: ignore[operator]
        # Close to the budget: projection uses it rather than pruning needlessly.
        assert figures.macs > 0.8 * limits.max_macs  # type: ignore[operator]


def test_uniform_start_projects_to_equal_ratios(prepared: Prepared) -> None:
    limits = Limits.from_spec(
        prepared.spec.budget, params=prepared.reference.params, macs=prepared.reference.macs
    )
    meter = BudgetMeter(prepared, round_to=1)
    projected, _ = project(meter, limits, {}, max_ratio=_floors(prepared))
    # Equal ratios, except where a group's channel floor stops it.
    floors = _floors(prepared)
    assert len({r for g, r in projected.items() if r < floors[g]}) <= 1


def test_unreachable_budget_names_the_smallest_figure(prepared: Prepared) -> None:
    limits = Limits(max_params=None, max_macs=10.0, max_latency_ms=None)
    meter = BudgetMeter(prepared, round_to=1)
    with pytest.raises(BudgetError, match="smallest achievable is") as info:
        check_reachable(meter, limits, max_ratio=_floors(prepared))
    assert info.value.field == "budget.max_macs"
    assert info.value.smallest > 10.0


def test_latency_is_measured_and_a_line_predicts_the_rest(
    prepared: Prepared, reference_weights: Path
) -> None:
    spec = tiny_spec(budget={"max_latency_ms": 1000.0})
    prepared = prepare(spec, reference_weights=reference_weights)
    assert prepared.reference.latency_ms is not None
    limits = Limits.from_spec(
        spec.budget, params=prepared.reference.params, macs=prepared.reference.macs
    )
    meter = BudgetMeter(prepared, round_to=1)
    smallest = check_reachable(meter, limits, max_ratio=_floors(prepared))
    assert smallest.latency_ms is not None and smallest.latency_ms > 0
    predicted = meter.predicted({g.id: 0.5 for g in prepared.report.groups})
    assert predicted.latency_ms is not None and predicted.latency_ms > 0
