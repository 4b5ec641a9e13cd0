"""/v1/compare?jobs=a,b,...: several of the caller's jobs side by side (2 to 10): each one's
reference, budget, baselines, Pareto front and best candidate with its layers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy.orm import Session

from service.api.compare_schemas import BestComparedOut, ComparedJobOut, CompareOut
from service.api.deps import OwnerDep, SessionDep
from service.api.insights_schemas import BudgetOut, LayerOut, PointOut, ReferenceOut
from service.api.schemas import CandidateOut, error_responses
from service.jobs import (
    baselines,
    best_candidate,
    budget_figures,
    candidate_layers,
    compared_jobs,
    job_ids,
    job_options,
    model_label,
    pareto_rows,
    reference_layers,
)
from service.models import Job

__all__ = ["router"]

router = APIRouter(prefix="/compare", tags=["compare"])

JobIds = Annotated[
    str,
    Query(
        max_length=400,
        description="2 to 10 of your job ids, comma-separated, each once",
        examples=["3f2a...,9b1c..."],
    ),
]


@router.get("", response_model=CompareOut, responses=error_responses(404))
def compare_jobs(jobs: JobIds, owner: OwnerDep, session: SessionDep) -> CompareOut:
    """Each job's name, model, budget, unpruned figures, baselines, Pareto front (and its
    stage) and best candidate with its kept channels per layer, in the order given. 404
    names an id that is not one of yours; 422 (field ``jobs``) for fewer than 2, more than
    10, or an id given twice."""
    found = compared_jobs(session, owner, job_ids(jobs))
    return CompareOut(jobs=[_compared(session, job) for job in found])


def _compared(session: Session, job: Job) -> ComparedJobOut:
    options = job_options(job)
    budget = budget_figures(job)
    fidelity, front = pareto_rows(session, job.id)
    return ComparedJobOut(
        id=job.id,
        name=job.name,
        status=job.status,
        model=model_label(job),
        objectives=list(options.objectives),
        reference=ReferenceOut.of(job.reference),
        budget=BudgetOut(
            max_params=budget.max_params,
            max_macs=budget.max_macs,
            max_latency_ms=budget.max_latency_ms,
        ),
        baselines={
            kind: None if row is None else CandidateOut.model_validate(row)
            for kind, row in baselines(session, job.id).items()
        },
        front_fidelity=fidelity,
        front=[PointOut.model_validate(dict(row._mapping)) for row in front],
        best=_best(session, job),
    )


def _best(session: Session, job: Job) -> BestComparedOut | None:
    best, final = best_candidate(session, job)
    if best is None:
        return None
    candidate = CandidateOut.model_validate(best)
    options = job_options(job)
    layers = candidate_layers(
        reference_layers(job),
        candidate.ratios,
        granularity=options.granularity,
        round_to=options.round_to,
    )
    return BestComparedOut(
        final=final,
        candidate=candidate,
        granularity=options.granularity,
        layers=[LayerOut.model_validate(layer, from_attributes=True) for layer in layers],
    )
