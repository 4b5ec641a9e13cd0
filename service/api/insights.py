"""/v1/jobs/{id}/points, /candidates/{number}, /history, /importance: what the job's web
page plots (every candidate as a point, one candidate's layers, the study's history and
parameter importances). Owner-scoped like every /v1/jobs route."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal, cast

from fastapi import APIRouter, Depends, FastAPI, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from service.api.deps import DatabaseDep, OwnerDep, SessionDep
from service.api.schemas import INT32_MAX, CandidateOut, error_responses
from service.jobs import (
    ImportanceCache,
    StudyStorages,
    budget_figures,
    candidate_layers,
    get_candidate,
    job_history,
    job_importances,
    job_options,
    point_rows,
    reference_layers,
)
from service.models import Candidate, CandidateKind, Job, get_owned

__all__ = [
    "BudgetOut",
    "CandidateDetailOut",
    "HistoryOut",
    "HistoryPointOut",
    "ImportanceOut",
    "LayerOut",
    "ParamImportanceOut",
    "PointOut",
    "PointsOut",
    "ReferenceOut",
    "get_importance_cache",
    "get_study_storages",
    "router",
]

Objective = Literal["accuracy", "macs", "params", "latency"]


class ReferenceOut(BaseModel):
    """Figures of the unpruned model (None: not measured)."""

    params: int | None = None
    macs: int | None = None
    latency_ms: float | None = None
    val_accuracy: float | None = None
    test_accuracy: float | None = None

    @classmethod
    def of(cls, reference: Mapping[str, Any] | None) -> ReferenceOut | None:
        if reference is None:
            return None
        return cls(**{name: reference.get(name) for name in cls.model_fields})


class BudgetOut(BaseModel):
    """The job's limits in absolute units (fractions of the unpruned model already applied;
    counts rounded down). None: no such limit, or a fraction of a reference figure not
    known yet (the job has not been prepared)."""

    max_params: int | None = None
    max_macs: int | None = None
    max_latency_ms: float | None = None


class PointOut(BaseModel):
    """One candidate as a point to plot."""

    number: int
    kind: CandidateKind
    state: str
    feasible: bool
    pareto: bool
    params: int | None
    macs: int | None
    latency_ms: float | None
    score: float | None = Field(
        description="the score of its last stage, as on the leaderboard: validation accuracy "
        "for finals, search-split accuracy for rungs and screening (see fidelity)"
    )
    accuracy: float | None
    proxy_score: float | None
    rung_score: float | None = None
    fidelity: str = Field(default="screen", description="screen, rung-1 ... rung-k, final")


class PointsOut(BaseModel):
    job_id: str
    objective: Objective = Field(
        description="what the search optimises: 'accuracy' alone, or the cost it trades "
        "accuracy against (the spec's second objective: macs, params or latency)"
    )
    objectives: list[Objective] = Field(description="the spec's objectives, in order")
    reference: ReferenceOut | None = Field(description="None until the job is prepared")
    budget: BudgetOut
    points: list[PointOut] = Field(description="every candidate, by trial number")


class LayerOut(BaseModel):
    """One prunable layer of the unpruned model under a candidate's policy.

    Channel granularity: ``original`` output channels, ``kept`` after pruning (rounded to the
    spec's ``round_to`` as the pruning library does), ``ratio`` the fraction of channels
    removed (0 and kept = original for a layer the policy leaves whole; coupled layers share
    their group's ratio). Unstructured granularity: weights are zeroed, no channel goes, so
    kept = original and ``ratio`` is the fraction of the layer's weights zeroed. For a job
    recorded before layers were kept, only the policy's layers come back, with ``kind``,
    ``group``, ``original`` and ``kept`` null."""

    model_config = ConfigDict(from_attributes=True)

    name: str
    kind: str | None
    group: int | None
    original: int | None
    kept: int | None
    ratio: float


class HistoryPointOut(BaseModel):
    """One trial of the study, in trial order."""

    model_config = ConfigDict(from_attributes=True)

    number: int
    kind: str = Field(description="uniform, global or search")
    state: str = Field(description="Optuna's trial state in lower case")
    value: float | None = Field(description="the (first) objective value; None unless complete")
    best_so_far: float | None = Field(
        description="best value of the trials up to this one (direction-aware)"
    )


class HistoryOut(BaseModel):
    direction: Literal["maximize", "minimize"] = Field(
        description="of the first objective (the score); a two-objective study is read on it"
    )
    points: list[HistoryPointOut] = Field(description="empty until the study exists")


class ParamImportanceOut(BaseModel):
    name: str = Field(description="the Optuna parameter (keep:<group root>, criterion)")
    importance: float = Field(description="share of the score's variance (fANOVA); sums to 1")


class ImportanceOut(BaseModel):
    params: list[ParamImportanceOut] = Field(description="most important first")
    trials_used: int = Field(description="complete trials the importances come from")
    message: str | None = Field(description="why ``params`` is empty, else None")


class CandidateDetailOut(CandidateOut):
    """A leaderboard row plus the policy spelled out per layer."""

    granularity: str = Field(description="'channel' or 'unstructured' (the job's spec)")
    layers: list[LayerOut] = Field(description="every prunable layer, in model order")

    @classmethod
    def of(
        cls, candidate: Candidate, *, granularity: str, layers: list[LayerOut]
    ) -> CandidateDetailOut:
        row = CandidateOut.model_validate(candidate).model_dump(exclude={"score"})
        return cls(**row, granularity=granularity, layers=layers)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Close the study storages the routes opened (one engine per storage URL)."""
    try:
        yield
    finally:
        storages: StudyStorages | None = getattr(app.state, "study_storages", None)
        if storages is not None:
            storages.close()


router = APIRouter(prefix="/jobs", tags=["insights"], lifespan=_lifespan)
_STATE_LOCK = threading.Lock()


def get_study_storages(request: Request, database: DatabaseDep) -> StudyStorages:
    """The app's study storages, made on first use (default: the service's database)."""
    state = request.app.state
    with _STATE_LOCK:
        storages = getattr(state, "study_storages", None)
        if storages is None:
            url = database.engine.url.render_as_string(hide_password=False)
            storages = state.study_storages = StudyStorages(url)
    return cast(StudyStorages, storages)


def get_importance_cache(request: Request) -> ImportanceCache:
    state = request.app.state
    with _STATE_LOCK:
        cache = getattr(state, "importance_cache", None)
        if cache is None:
            cache = state.importance_cache = ImportanceCache()
    return cast(ImportanceCache, cache)


StoragesDep = Annotated[StudyStorages, Depends(get_study_storages)]
ImportanceCacheDep = Annotated[ImportanceCache, Depends(get_importance_cache)]

_ERRORS = error_responses(404)
CandidateNumber = Annotated[int, Path(ge=0, le=INT32_MAX, description="the trial number")]


@router.get("/{job_id}/points", response_model=PointsOut, responses=_ERRORS)
def get_points(job_id: str, owner: OwnerDep, session: SessionDep) -> Response:
    """Every candidate as a point to plot (by trial number), with the reference figures and
    the budget in absolute units. One narrow query: fit for tens of thousands of candidates."""
    job = get_owned(session, Job, job_id, owner)
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
    """How much each searched parameter explains the score (Optuna's fANOVA over the
    complete trials, seeded; cached until more trials finish). Empty, with a message, while
    the study has too few complete trials or does not exist yet."""
    job = get_owned(session, Job, job_id, owner)
    found = job_importances(storages, cache, job)
    return ImportanceOut(
        params=[ParamImportanceOut(name=k, importance=v) for k, v in found.params.items()],
        trials_used=found.trials_used,
        message=found.message,
    )
