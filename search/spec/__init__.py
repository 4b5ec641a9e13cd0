"""The job spec: model, data, budget, search and fine-tune options."""

from search.spec._errors import FieldProblem, first_problem
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
    "FieldProblem",
    "FinetuneSpec",
    "LatencySpec",
    "ModelSpec",
    "SearchOptions",
    "SearchSpec",
    "first_problem",
    "spec_error",
]
