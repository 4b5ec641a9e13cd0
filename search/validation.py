"""``validate``: everything a spec promises, checked in seconds, before it is queued."""

from __future__ import annotations

from collections.abc import Sequence

from search.budget import BudgetMeter, Limits, check_reachable
from search.preparation import Reference, Resolver, prepare
from search.space import max_ratios
from search.spec import SearchSpec

__all__ = ["validate"]


def validate(
    spec: SearchSpec,
    *,
    resolve: Resolver,
    allowed_factories: Sequence[str] | None = None,
    max_model_params: int | None = None,
) -> Reference:
    """Check that the model builds (and its weights load), the data loads, and a policy
    within the bounds meets the budget — without training anything (costs do not depend
    on weights), and that the model has at most ``max_model_params`` parameters. Returns
    the unpruned model's figures (accuracies are not evaluated).

    Raises:
        SpecError: naming the field at fault; BudgetError for an unreachable budget.
    """
    prepared = prepare(
        spec,
        resolve=resolve,
        allowed_factories=allowed_factories,
        train=False,
        max_model_params=max_model_params,
    )
    reference = prepared.reference
    limits = Limits.from_spec(spec.budget, params=reference.params, macs=reference.macs)
    meter = BudgetMeter(
        prepared,
        round_to=spec.search.round_to,
        unstructured=spec.search.granularity == "unstructured",
    )
    check_reachable(meter, limits, max_ratio=max_ratios(prepared.report, spec.search))
    return reference
