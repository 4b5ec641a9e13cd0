"""What the job page's endpoints answer (/points, /candidates/{n}, /history, /importance),
as the client sees it; mirrors :mod:`service.api.insights` field for field (a test compares
them). Unknown fields are ignored, so an older client keeps working against a newer server.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from service.client._models import CandidateInfo, CandidateKind, _Model

__all__ = [
    "BudgetLimits",
    "CandidateDetail",
    "CandidateLayer",
    "History",
    "Importance",
    "JobPoints",
    "ParamImportance",
    "Point",
    "ReferenceFigures",
    "TrialPoint",
]

Objective = Literal["accuracy", "macs", "params", "latency"]


class ReferenceFigures(_Model):
    """The unpruned model's figures (None: not measured)."""

    params: int | None = None
    macs: int | None = None
    latency_ms: float | None = None
    val_accuracy: float | None = None
    test_accuracy: float | None = None


class BudgetLimits(_Model):
    """The job's limits in absolute units (None: no such limit, or not known yet)."""

    max_params: int | None = None
    max_macs: int | None = None
    max_latency_ms: float | None = None


class Point(_Model):
    """One candidate as a point to plot; ``score`` as on the leaderboard."""

    number: int
    kind: CandidateKind
    state: str
    feasible: bool
    pareto: bool
    params: int | None = None
    macs: int | None = None
    latency_ms: float | None = None
    score: float | None = None
    accuracy: float | None = None
    proxy_score: float | None = None
    rung_score: float | None = None
    fidelity: str = "screen"


class JobPoints(_Model):
    """Every candidate of a job by trial number, with the reference and the budget."""

    job_id: str
    objective: Objective
    objectives: list[Objective] = Field(default_factory=list)
    reference: ReferenceFigures | None = None
    budget: BudgetLimits
    points: list[Point] = Field(default_factory=list)


class CandidateLayer(_Model):
    """A prunable layer under a candidate's policy: ``original`` and ``kept`` output channels
    and the ``ratio`` removed (unstructured: kept = original, ratio of weights zeroed)."""

    name: str
    kind: str | None = None
    group: int | None = None
    original: int | None = None
    kept: int | None = None
    ratio: float


class CandidateDetail(CandidateInfo):
    """A leaderboard row plus the policy per prunable layer, in model order."""

    granularity: str
    layers: list[CandidateLayer] = Field(default_factory=list)
    model_url: str | None = None  # the best of a succeeded job only
    no_model_reason: str | None = None  # why not: only the chosen model's weights are kept


class TrialPoint(_Model):
    """One trial of the job's study: its value and the best so far."""

    number: int
    kind: str
    state: str
    value: float | None = None
    best_so_far: float | None = None


class History(_Model):
    direction: Literal["maximize", "minimize"]
    points: list[TrialPoint] = Field(default_factory=list)


class ParamImportance(_Model):
    name: str
    importance: float


class Importance(_Model):
    """PED-ANOVA importances (as optuna-dashboard's), most important first; empty with
    ``message`` saying why; ``warning`` when too few trials to rank."""

    params: list[ParamImportance] = Field(default_factory=list)
    trials_used: int
    message: str | None = None
    warning: str | None = None
    evaluator: str = "PED-ANOVA"
