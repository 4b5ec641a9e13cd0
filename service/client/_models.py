"""What the REST API answers, as the client sees it (pydantic models of the JSON bodies).

These mirror :mod:`service.api.schemas` field for field (a test compares the two), but are
their own classes: the server's schemas are built on the SQLAlchemy models and live in a
package that imports FastAPI, and a client must install and import with neither. Unknown
fields are ignored, so an older client keeps working against a newer server.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "FINAL_STATUSES",
    "ArtifactInfo",
    "ArtifactKind",
    "BestInfo",
    "CandidateInfo",
    "CandidateKind",
    "JobEvent",
    "JobInfo",
    "JobPage",
    "JobStatus",
    "JobSummary",
    "LeaderboardPage",
    "ModelFormat",
    "Progress",
    "Timings",
]

JobStatus = Literal["queued", "running", "finalizing", "succeeded", "failed", "cancelled"]
FINAL_STATUSES: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})
ArtifactKind = Literal["weights", "data"]
CandidateKind = Literal["uniform", "global", "sensitivity", "search"]
ModelFormat = Literal["bundle", "onnx", "safetensors"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class ArtifactInfo(_Model):
    """An uploaded file: its id goes into a job spec (``model.weights``, ``data.tensors``)."""

    id: str
    kind: str
    filename: str
    sha256: str
    size: int
    created_at: datetime


class Progress(_Model):
    trials_done: int
    trials_failed: int
    trials_planned: int
    fraction: float
    best_score: float | None = None
    eta_s: float | None = None
    stage: str | None = None


class Timings(_Model):
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    updated_at: datetime
    run_s: float | None = None


class JobEvent(_Model):
    at: datetime
    from_status: JobStatus | None = None
    to_status: JobStatus
    message: str | None = None


class JobSummary(_Model):
    """A job as the jobs list shows it."""

    id: str
    name: str
    status: JobStatus
    device_kind: str
    cancel_requested: bool
    progress: Progress
    timings: Timings
    error: str | None = None

    @property
    def is_final(self) -> bool:
        """Succeeded, failed or cancelled: the job will not change any more."""
        return self.status in FINAL_STATUSES


class JobInfo(JobSummary):
    """One job in full: its spec with defaults filled in, reference figures, result, events."""

    study_name: str
    spec: dict[str, Any] = Field(default_factory=dict)
    reference: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    best_model_available: bool = False
    events: list[JobEvent] = Field(default_factory=list)


class JobPage(_Model):
    items: list[JobSummary]
    total: int
    limit: int
    offset: int


class CandidateInfo(_Model):
    """One row of a leaderboard: a baseline or a searched policy, with measured figures."""

    number: int
    kind: str
    state: str
    criterion: str | None = None
    ratios: dict[str, float] = Field(default_factory=dict)
    params: int | None = None
    macs: int | None = None
    latency_ms: float | None = None
    proxy_score: float | None = None
    accuracy: float | None = None
    test_accuracy: float | None = None
    feasible: bool = False
    pareto: bool = False
    timings: dict[str, float] = Field(default_factory=dict)
    fidelity: str = "screen"
    rung_score: float | None = None
    margin: float | None = None
    margin_se: float | None = None
    score: float | None = None


class LeaderboardPage(_Model):
    items: list[CandidateInfo]
    total: int
    limit: int
    offset: int
    job_id: str
    job_status: JobStatus
    sort: str
    order: Literal["asc", "desc"]


class BestInfo(_Model):
    """The best candidate of a job, how it compares with the baselines, what can be fetched."""

    job_id: str
    job_status: JobStatus
    final: bool
    candidate: CandidateInfo
    reference: dict[str, Any] | None = None
    params_ratio: float | None = None
    macs_ratio: float | None = None
    gain_over_uniform: float | None = None
    gain_over_global: float | None = None
    gain_over_sensitivity: float | None = None
    test_gain_over_uniform: float | None = None
    test_gain_over_global: float | None = None
    test_gain_over_sensitivity: float | None = None
    margin: float | None = None
    margin_se: float | None = None
    margin_ci95: tuple[float, float] | None = None
    baselines: dict[str, CandidateInfo | None] = Field(default_factory=dict)
    formats: list[str] = Field(default_factory=list)
