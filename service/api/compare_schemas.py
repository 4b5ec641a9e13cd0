"""Response models of GET /v1/compare: several jobs side by side."""

from __future__ import annotations

from pydantic import BaseModel, Field

from service.api.insights_schemas import BudgetOut, LayerOut, Objective, PointOut, ReferenceOut
from service.api.schemas import CandidateOut
from service.models import JobStatus

__all__ = ["BestComparedOut", "CompareOut", "ComparedJobOut"]


class BestComparedOut(BaseModel):
    """A job's best candidate with its policy per prunable layer."""

    final: bool = Field(description="false: the best so far (the job has not succeeded)")
    candidate: CandidateOut
    granularity: str = Field(description="'channel' or 'unstructured' (the job's spec)")
    layers: list[LayerOut] = Field(
        description="every prunable layer in model order: channels of the unpruned model, "
        "channels kept, ratio removed"
    )


class ComparedJobOut(BaseModel):
    id: str
    name: str
    status: JobStatus
    model: str = Field(description="the zoo architecture or the factory of the job's spec")
    objectives: list[Objective] = Field(description="the spec's objectives, in order")
    reference: ReferenceOut | None = Field(description="the unpruned model; None until prepared")
    budget: BudgetOut
    baselines: dict[str, CandidateOut | None] = Field(
        description="uniform, global and sensitivity: the best-ranked candidate of each kind"
    )
    front_fidelity: str | None = Field(
        description="the stage of the front's points: final once the finals ran, else the "
        "furthest rung (or screen) any front candidate reached; None: no front yet"
    )
    front: list[PointOut] = Field(
        description="the Pareto front (accuracy against the cost objective, MACs unless the "
        "spec names another) at front_fidelity, by trial number"
    )
    best: BestComparedOut | None = Field(description="None while no candidate is feasible")


class CompareOut(BaseModel):
    jobs: list[ComparedJobOut] = Field(description="in the order the ids were given")
