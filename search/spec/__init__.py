"""The job spec: model, data, budget, search and fine-tune options."""

from search.spec._spec import (
    BudgetSpec,
    DataSpec,
    FinetuneSpec,
    LatencySpec,
    ModelSpec,
    SearchOptions,
    SearchSpec,
    spec_error,
)

__all__ = [
    "BudgetSpec",
    "DataSpec",
    "FinetuneSpec",
    "LatencySpec",
    "ModelSpec",
    "SearchOptions",
    "SearchSpec",
    "spec_error",
]
