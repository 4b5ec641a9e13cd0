"""Jobs as the service runs them: submission, the workers' store, leaderboards, downloads.

>>> submission = submit_job(session, "alice", spec_data, "key-1", settings=s, artifacts=a)
>>> store = SqlJobStore(database, artifacts)          # what the workers persist through
>>> dispatcher, close = make_dispatcher(settings, database, artifacts)
"""

from service.jobs._compare import (
    MAX_COMPARED,
    MIN_COMPARED,
    compared_jobs,
    job_ids,
    model_label,
    pareto_rows,
)
from service.jobs._downloads import (
    BUNDLE_MEMBERS,
    FORMATS,
    BestModel,
    Format,
    available_formats,
    no_weights_reason,
    open_best_model,
    open_candidate_model,
)
from service.jobs._export import EXPORT_BATCH, csv_cell, csv_chunks, export_filename, stream_rows
from service.jobs._insights import (
    BudgetFigures,
    LayerView,
    budget_figures,
    candidate_layers,
    get_candidate,
    job_options,
    point_rows,
    points_statement,
    reference_layers,
)
from service.jobs._leaderboard import (
    SORT_KEYS,
    LeaderboardQuery,
    SortKey,
    baselines,
    best_candidate,
    leaderboard_page,
    list_jobs,
    ordered_candidates,
)
from service.jobs._limits import COST_BOUNDS, Bound, check_cost
from service.jobs._store import SqlJobStore
from service.jobs._studies import (
    NO_STUDY,
    History,
    ImportanceCache,
    Importances,
    Sensitivity,
    SensitivityGroup,
    StudyStorages,
    job_history,
    job_importances,
    job_sensitivity,
)
from service.jobs._submit import QueueUnavailable, Submission, enqueue_job, study_name, submit_job
from service.jobs._wiring import make_dispatcher, make_store, worker_options

__all__ = [
    "COST_BOUNDS",
    "EXPORT_BATCH",
    "Bound",
    "BUNDLE_MEMBERS",
    "FORMATS",
    "MAX_COMPARED",
    "MIN_COMPARED",
    "NO_STUDY",
    "SORT_KEYS",
    "BestModel",
    "BudgetFigures",
    "Format",
    "History",
    "ImportanceCache",
    "Importances",
    "Sensitivity",
    "SensitivityGroup",
    "LayerView",
    "LeaderboardQuery",
    "QueueUnavailable",
    "SqlJobStore",
    "StudyStorages",
    "SortKey",
    "Submission",
    "available_formats",
    "baselines",
    "best_candidate",
    "budget_figures",
    "check_cost",
    "compared_jobs",
    "csv_cell",
    "csv_chunks",
    "export_filename",
    "candidate_layers",
    "get_candidate",
    "job_history",
    "job_ids",
    "job_importances",
    "job_sensitivity",
    "job_options",
    "leaderboard_page",
    "list_jobs",
    "make_dispatcher",
    "make_store",
    "model_label",
    "no_weights_reason",
    "open_best_model",
    "open_candidate_model",
    "pareto_rows",
    "ordered_candidates",
    "point_rows",
    "points_statement",
    "reference_layers",
    "enqueue_job",
    "stream_rows",
    "study_name",
    "submit_job",
    "worker_options",
]
