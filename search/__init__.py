"""prunesearch's search engine: Optuna over per-group keep ratios, within a budget.

>>> from search import SearchSpec, run_search
>>> result = run_search(SearchSpec.from_yaml("spec.yaml"), storage="sqlite:///s.db")
>>> result.best, result.leaderboard
"""

from search._json import finite, json_safe
from search._log_context import LogContextFilter, current_log_context, log_context
from search.callbacks import EpochEvent, SearchCallback, TrialEvent
from search.candidates import Candidate
from search.exceptions import (
    BudgetError,
    ImportanceUnavailable,
    SearchCancelled,
    SearchError,
    SpecError,
)
from search.insights import HistoryPoint, optimization_history, param_importances
from search.preparation import Prepared, Reference, prepare
from search.runner import SearchResult, SearchSession, default_study_name, run_search
from search.spec import SearchSpec
from search.validation import validate

__all__ = [
    "BudgetError",
    "Candidate",
    "EpochEvent",
    "HistoryPoint",
    "ImportanceUnavailable",
    "LogContextFilter",
    "Prepared",
    "Reference",
    "SearchCallback",
    "SearchCancelled",
    "SearchError",
    "SearchResult",
    "SearchSession",
    "SearchSpec",
    "SpecError",
    "TrialEvent",
    "current_log_context",
    "default_study_name",
    "finite",
    "json_safe",
    "log_context",
    "optimization_history",
    "param_importances",
    "prepare",
    "run_search",
    "validate",
]
