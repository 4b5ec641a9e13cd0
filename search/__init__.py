"""prunesearch's search engine: Optuna over per-group keep ratios, within a budget.

>>> from search import SearchSpec, run_search
>>> result = run_search(SearchSpec.from_yaml("spec.yaml"), storage="sqlite:///s.db")
>>> result.best, result.leaderboard
"""

from search._errors import FieldProblem, first_problem
from search._json import finite, json_safe
from search._log_context import LogContextFilter, current_log_context, log_context
from search.budget import Limits
from search.callbacks import EpochEvent, SearchCallback, TrialEvent
from search.candidates import (
    FIDELITIES,
    SCORE_FIELDS,
    Candidate,
    fidelity_level,
    leaderboard,
    rank_key,
    score,
)
from search.exceptions import (
    BudgetError,
    ImportanceUnavailable,
    SearchCancelled,
    SearchError,
    SpecError,
)
from search.insights import (
    IMPORTANCE_EVALUATOR,
    MIN_RANKABLE_TRIALS,
    HistoryPoint,
    objective_direction,
    optimization_history,
    param_importances,
    ranking_warning,
    stored_sensitivity,
    usable_trials,
)
from search.preparation import Prepared, Reference, prepare
from search.runner import (
    SearchResult,
    SearchSession,
    default_study_name,
    fail_dead_trials,
    make_storage,
    run_search,
)
from search.spec import BudgetSpec, SearchOptions, SearchSpec
from search.validation import validate

__all__ = [
    "FIDELITIES",
    "SCORE_FIELDS",
    "BudgetError",
    "BudgetSpec",
    "Candidate",
    "EpochEvent",
    "FieldProblem",
    "HistoryPoint",
    "IMPORTANCE_EVALUATOR",
    "MIN_RANKABLE_TRIALS",
    "ImportanceUnavailable",
    "Limits",
    "LogContextFilter",
    "Prepared",
    "Reference",
    "SearchCallback",
    "SearchCancelled",
    "SearchError",
    "SearchOptions",
    "SearchResult",
    "SearchSession",
    "SearchSpec",
    "SpecError",
    "TrialEvent",
    "current_log_context",
    "first_problem",
    "default_study_name",
    "fail_dead_trials",
    "fidelity_level",
    "leaderboard",
    "finite",
    "json_safe",
    "log_context",
    "make_storage",
    "objective_direction",
    "optimization_history",
    "param_importances",
    "prepare",
    "rank_key",
    "ranking_warning",
    "run_search",
    "score",
    "stored_sensitivity",
    "usable_trials",
    "validate",
]
