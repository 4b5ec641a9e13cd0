"""/v1/jobs/{id}/points, /candidates/{number}, /history, /importance: what the job's web
page plots (every candidate as a point, one candidate's layers, the study's history and
parameter importances). Owner-scoped like every /v1/jobs route."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from service.api.deps import OwnerDep, SessionDep
from service.api.schemas import CandidateOut, ErrorOut
from service.jobs import (
    budget_figures,
    candidate_layers,
    get_candidate,
    job_options,
    point_rows,
    reference_layers,
)
from service.models import Candidate, CandidateKind, Job, get_owned

__all__ = [
    "BudgetOut",
    "CandidateDetailOut",
    "LayerOut",
    "PointOut",
    "PointsOut",
    "ReferenceOut",
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
        description="accuracy where there is one, else the proxy score (as on the leaderboard)"
    )
    accuracy: float | None
    proxy_score: float | None

    @classmethod
    def of(cls, row: Any) -> PointOut:
        return cls(
            number=row.number,
            kind=row.kind,
            state=row.state,
            feasible=row.feasible,
            pareto=row.pareto,
            params=row.params,
            macs=row.macs,
            latency_ms=row.latency_ms,
            score=row.accuracy if row.accuracy is not None else row.proxy_score,
            accuracy=row.accuracy,
            proxy_score=row.proxy_score,
        )


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


router = APIRouter(prefix="/jobs", tags=["insights"])

_ERRORS: dict[int | str, dict[str, Any]] = {404: {"model": ErrorOut}, 422: {"model": ErrorOut}}


@router.get("/{job_id}/points", response_model=PointsOut, responses=_ERRORS)
def get_points(job_id: str, owner: OwnerDep, session: SessionDep) -> PointsOut:
    """Every candidate as a point to plot (by trial number), with the reference figures and
    the budget in absolute units. One narrow query: fit for tens of thousands of candidates."""
    job = get_owned(session, Job, job_id, owner)
    options = job_options(job)
    objectives = list(options.objectives)
    budget = budget_figures(job)
    return PointsOut(
        job_id=job.id,
        objective=objectives[-1],
        objectives=objectives,
        reference=ReferenceOut.of(job.reference),
        budget=BudgetOut(
            max_params=budget.max_params,
            max_macs=budget.max_macs,
            max_latency_ms=budget.max_latency_ms,
        ),
        points=[PointOut.of(row) for row in point_rows(session, job.id)],
    )


@router.get("/{job_id}/candidates/{number}", response_model=CandidateDetailOut, responses=_ERRORS)
def get_candidate_detail(
    job_id: str, number: int, owner: OwnerDep, session: SessionDep
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
