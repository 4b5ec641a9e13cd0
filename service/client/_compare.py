"""What GET /v1/compare answers, as the client sees it; mirrors
:mod:`service.api.compare_schemas` field for field (a test compares them)."""

from __future__ import annotations

from pydantic import Field

from service.client._insights import (
    BudgetLimits,
    CandidateLayer,
    Objective,
    Point,
    ReferenceFigures,
)
from service.client._models import CandidateInfo, JobStatus, _Model

__all__ = ["BestCompared", "ComparedJob", "Comparison"]


class BestCompared(_Model):
    """A job's best candidate (``final``: the job's result) with its layers' kept channels."""

    final: bool
    candidate: CandidateInfo
    granularity: str
    layers: list[CandidateLayer] = Field(default_factory=list)


class ComparedJob(_Model):
    """One job of a comparison: the front is at ``front_fidelity`` (final once finals ran)."""

    id: str
    name: str
    status: JobStatus
    model: str
    objectives: list[Objective] = Field(default_factory=list)
    reference: ReferenceFigures | None = None
    budget: BudgetLimits
    baselines: dict[str, CandidateInfo | None] = Field(default_factory=dict)
    front_fidelity: str | None = None
    front: list[Point] = Field(default_factory=list)
    best: BestCompared | None = None


class Comparison(_Model):
    jobs: list[ComparedJob]
