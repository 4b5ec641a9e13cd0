"""/v1/jobs/{id}/points, /candidates/{number}, /history, /importance, /sensitivity: what the
job's web page plots (every candidate as a point, one candidate's layers, the study's
history, parameter importances and sensitivity curves). Owner-scoped like every /v1/jobs
route; the response models are in :mod:`service.api.insights_schemas`, the study storages
and the importance cache are the app's (made by its lifespan)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from service.api.deps import DatabaseDep, ImportanceCacheDep, OwnerDep, SessionDep, StoragesDep
from service.api.export import CSV_RESPONSE, ExportFormat, points_csv
from service.api.insights_schemas import (
    BudgetOut,
    CandidateDetailOut,
    HistoryOut,
    HistoryPointOut,
    ImportanceOut,
    LayerOut,
    ParamImportanceOut,
    PointsOut,
    ReferenceOut,
    SensitivityOut,
)
from service.api.schemas import INT32_MAX, error_responses
from service.jobs import (
    budget_figures,
    candidate_layers,
    get_candidate,
    job_history,
    job_importances,
    job_options,
    job_sensitivity,
    no_weights_reason,
    point_rows,
    reference_layers,
)
from service.models import Job, get_owned

__all__ = ["router"]

router = APIRouter(prefix="/jobs", tags=["insights"])
_ERRORS = error_responses(404)
CandidateNumber = Annotated[int, Path(ge=0, le=INT32_MAX, description="the trial number")]


@router.get("/{job_id}/points", response_model=PointsOut, responses={**CSV_RESPONSE, **_ERRORS})
def get_points(
    job_id: str,
    owner: OwnerDep,
    session: SessionDep,
    database: DatabaseDep,
    fmt: Annotated[ExportFormat, Query(alias="format")] = "json",
) -> Response:
    """Every candidate as a point to plot (by trial number), with the reference figures and
    the budget in absolute units. One narrow query: fit for tens of thousands of candidates.
    ``format=csv``: the points alone, streamed as CSV (a header line, the same columns)."""
    job = get_owned(session, Job, job_id, owner)
    if fmt == "csv":
        return points_csv(database, job)
    options = job_options(job)
    objectives = list(options.objectives)
    budget = budget_figures(job)
    answer = PointsOut.model_validate(
        {
            "job_id": job.id,
            "objective": objectives[-1],
            "objectives": objectives,
            "reference": ReferenceOut.of(job.reference),
            "budget": BudgetOut(
                max_params=budget.max_params,
                max_macs=budget.max_macs,
                max_latency_ms=budget.max_latency_ms,
            ),
            # Plain dicts validated in one pass: a model built per row cost most of the
            # time at 10,000 points (benchmarks/ui_reads.py).
            "points": [dict(row._mapping) for row in point_rows(session, job.id)],
        }
    )
    # Already validated: serialised once here rather than checked again by FastAPI.
    return Response(answer.model_dump_json(), media_type="application/json")


@router.get("/{job_id}/candidates/{number}", response_model=CandidateDetailOut, responses=_ERRORS)
def get_candidate_detail(
    job_id: str, number: CandidateNumber, owner: OwnerDep, session: SessionDep
) -> CandidateDetailOut:
    """One candidate as on the leaderboard, plus its policy per prunable layer (model order):
    channels of the unpruned model, channels kept, ratio removed."""
    job = get_owned(session, Job, job_id, owner)
    candidate = get_candidate(session, job, number)
    options = job_options(job)
    layers = candidate_layers(
        reference_layers(job),
        candidate.ratios or {},
        granularity=options.granularity,
        round_to=options.round_to,
    )
    return CandidateDetailOut.of(
        candidate,
        granularity=options.granularity,
        layers=[LayerOut.model_validate(layer) for layer in layers],
        no_model_reason=no_weights_reason(job, number),
    )


@router.get("/{job_id}/history", response_model=HistoryOut, responses=_ERRORS)
def get_history(
    job_id: str, owner: OwnerDep, session: SessionDep, storages: StoragesDep
) -> HistoryOut:
    """The study's optimisation history: every trial's value and the best so far."""
    job = get_owned(session, Job, job_id, owner)
    history = job_history(storages, job)
    return HistoryOut(
        direction="maximize" if history.direction == "maximize" else "minimize",
        points=[HistoryPointOut.model_validate(point) for point in history.points],
    )


@router.get("/{job_id}/importance", response_model=ImportanceOut, responses=_ERRORS)
def get_importance(
    job_id: str,
    owner: OwnerDep,
    session: SessionDep,
    storages: StoragesDep,
    cache: ImportanceCacheDep,
) -> ImportanceOut:
    """How much each searched parameter matters for a good score: Optuna's PED-ANOVA over
    the complete trials on the first objective, as the embedded optuna-dashboard computes it
    (cached until more trials finish). Empty, with a message, while the study has too few
    complete trials or does not exist yet; a warning while too few to rank."""
    job = get_owned(session, Job, job_id, owner)
    found = job_importances(storages, cache, job)
    return ImportanceOut(
        params=[ParamImportanceOut(name=k, importance=v) for k, v in found.params.items()],
        trials_used=found.trials_used,
        message=found.message,
        warning=found.warning,
        evaluator=found.evaluator,
    )


@router.get("/{job_id}/sensitivity", response_model=SensitivityOut, responses=_ERRORS)
def get_sensitivity(
    job_id: str, owner: OwnerDep, session: SessionDep, storages: StoragesDep
) -> SensitivityOut:
    """Accuracy against keep ratio per prunable group, each pruned alone (measured once, when
    the job is prepared; the ``sensitivity`` baseline is built from it). Not an error while
    not measured: 200 with no groups and a ``message`` saying why, like /importance."""
    job = get_owned(session, Job, job_id, owner)
    return SensitivityOut.model_validate(job_sensitivity(storages, job))
