"""Request and response models of the REST API (what /docs shows)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, computed_field

from search import score
from service.models import (
    ArtifactKind,
    Candidate,
    CandidateKind,
    DeviceKind,
    Job,
    JobEvent,
    JobStatus,
    utcnow,
)

__all__ = [
    "INT32_MAX",
    "ArtifactOut",
    "BestOut",
    "CandidateOut",
    "ErrorOut",
    "EventOut",
    "HealthOut",
    "JobOut",
    "JobSummaryOut",
    "LeaderboardOut",
    "Page",
    "ProgressOut",
    "ReadyOut",
    "TimingsOut",
    "error_responses",
]

Z95 = 1.96  # two-sided 95% normal quantile, as the page's ±1.96 SE

T = TypeVar("T")

INT32_MAX = 2**31 - 1  # candidate numbers are 32-bit columns


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ErrorOut(BaseModel):
    """Every error answer: what went wrong, and the request field at fault when there is one."""

    detail: str
    field: str | None = None
    smallest: float | None = Field(
        default=None, description="for an unreachable budget: the smallest achievable figure"
    )


_ERROR_MEANINGS = {
    400: "the request cannot be read (a malformed multipart body)",
    401: "no API key, or an unknown or revoked one",
    403: "auth is off but the server listens on an address other machines can reach",
    404: "no such object of yours",
    409: "the request clashes with the object's state",
    413: "the body, or what an upload inflates to, is over its size limit; nothing was kept",
    415: "the body is not JSON",
    422: "a field is invalid or over a limit: `field` names it",
    429: "you have as many jobs queued as one owner may; retry after Retry-After seconds",
    500: "the server failed on this request",
    503: "the database or the broker is not answering; retry after Retry-After seconds",
}
_RETRY_AFTER = {
    "Retry-After": {
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
        "description": "seconds to wait before trying again",
    }
}
_ERROR_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer"}},
    429: _RETRY_AFTER,
    503: _RETRY_AFTER,
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for error ``codes``: each the :class:`ErrorOut` body."""
    answers: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        answers[code] = {"model": ErrorOut, "description": _ERROR_MEANINGS[code]}
        if code in _ERROR_HEADERS:
            answers[code]["headers"] = _ERROR_HEADERS[code]
    return answers


class HealthOut(BaseModel):
    status: Literal["ok"] = "ok"


class ReadyOut(BaseModel):
    status: Literal["ready", "unavailable"]
    checks: dict[str, str] = Field(description="each dependency: 'ok' or what is wrong")


class ArtifactOut(_Out):
    id: str
    kind: ArtifactKind
    filename: str = Field(description="the uploaded file's name, for display only")
    sha256: str
    size: int = Field(description="bytes")
    created_at: datetime


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int = Field(description="how many match the filters, over all pages")
    limit: int
    offset: int


class ProgressOut(BaseModel):
    trials_done: int
    trials_failed: int
    trials_planned: int
    fraction: float = Field(description="trials done of planned, 0 to 1")
    best_score: float | None = Field(
        description="best feasible score so far: the best proxy score while the search runs, "
        "the chosen candidate's final score once the job has succeeded"
    )
    eta_s: float | None = Field(
        description="seconds left for the screening trials, as the runner last estimated "
        "them from the trials' mean duration (None once screening is done: rungs and finals "
        "are timed by their own items)"
    )
    stage: str | None = Field(
        default=None,
        description="the search's stage: screen, rung-1 ... rung-k (successive halving), "
        "final (the final fine-tunes); None before the first report and once the job ended",
    )

    @classmethod
    def of(cls, job: Job) -> ProgressOut:
        planned = max(job.trials_planned, 1)
        done = min(job.trials_done, planned)
        return cls(
            trials_done=job.trials_done,
            trials_failed=job.trials_failed,
            trials_planned=job.trials_planned,
            fraction=done / planned,
            best_score=job.best_score,
            eta_s=job.eta_s if job.status is JobStatus.RUNNING and done < planned else None,
            stage=_stage(job),
        )


def _stage(job: Job) -> str | None:
    if job.status is JobStatus.FINALIZING:
        return "final"
    return job.stage if job.status is JobStatus.RUNNING else None


class TimingsOut(BaseModel):
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    run_s: float | None = Field(description="seconds from start to finish (or to now)")

    @classmethod
    def of(cls, job: Job, now: datetime) -> TimingsOut:
        end = job.finished_at or now
        run = None if job.started_at is None else (end - job.started_at).total_seconds()
        return cls(
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            updated_at=job.updated_at,
            run_s=run,
        )


class EventOut(_Out):
    at: datetime
    from_status: JobStatus | None
    to_status: JobStatus
    message: str | None


class JobSummaryOut(BaseModel):
    id: str
    name: str
    status: JobStatus
    device_kind: DeviceKind
    cancel_requested: bool
    progress: ProgressOut
    timings: TimingsOut
    error: str | None = Field(description="why the job failed, in words a user can act on")

    @classmethod
    def of(cls, job: Job) -> JobSummaryOut:
        return cls(**_summary_fields(job, utcnow()))


class JobOut(JobSummaryOut):
    study_name: str
    spec: dict[str, Any] = Field(description="the job spec, with every default filled in")
    reference: dict[str, Any] | None = Field(description="figures of the unpruned model")
    result: dict[str, Any] | None = Field(description="summary: best, gains, limits")
    best_model_available: bool
    events: list[EventOut]

    @classmethod
    def of(cls, job: Job) -> JobOut:
        return cls(
            **_summary_fields(job, utcnow()),
            study_name=job.study_name,
            spec=job.spec,
            reference=job.reference,
            result=job.result,
            best_model_available=job.best_artifact_id is not None,
            events=[EventOut.model_validate(event) for event in _events(job)],
        )


def _summary_fields(job: Job, now: datetime) -> dict[str, Any]:
    return {
        "id": job.id,
        "name": job.name,
        "status": job.status,
        "device_kind": job.device_kind,
        "cancel_requested": job.cancel_requested,
        "progress": ProgressOut.of(job),
        "timings": TimingsOut.of(job, now),
        "error": job.error,
    }


def _events(job: Job) -> list[JobEvent]:
    return sorted(job.events, key=lambda event: (event.at, event.id or 0))


class CandidateOut(_Out):
    number: int
    kind: CandidateKind
    state: str
    criterion: str | None = None
    ratios: dict[str, float] = Field(
        default_factory=dict, description="fraction of channels removed per layer"
    )
    params: int | None = None
    macs: int | None = None
    latency_ms: float | None = None
    proxy_score: float | None = Field(
        default=None, description="screening score: search-split accuracy after adaptive BN"
    )
    accuracy: float | None = Field(default=None, description="validation, after the final tune")
    test_accuracy: float | None = None
    feasible: bool = False
    pareto: bool = Field(default=False, description="on the front of the furthest stage reached")
    timings: dict[str, float] = Field(default_factory=dict)
    fidelity: str = Field(
        default="screen", description="the last stage reached: screen, rung-1 ... rung-k, final"
    )
    rung_score: float | None = Field(
        default=None, description="search-split accuracy after its last rung's fine-tune"
    )
    margin: float | None = Field(
        default=None,
        description="a finalist's validation accuracy minus the best baseline's, paired on "
        "the same images",
    )
    margin_se: float | None = Field(default=None, description="standard error of the margin")

    @computed_field(  # type: ignore[prop-decorator]
        description="the score of its last stage: accuracy, else rung_score, else proxy_score"
    )
    @property
    def score(self) -> float | None:
        return score(self)  # the search's one rule, not a copy


class LeaderboardOut(Page[CandidateOut]):
    job_id: str
    job_status: JobStatus
    sort: str
    order: Literal["asc", "desc"]


class BestOut(BaseModel):
    job_id: str
    job_status: JobStatus
    final: bool = Field(description="false: the best so far by proxy score, job still going")
    candidate: CandidateOut
    reference: dict[str, Any] | None
    params_ratio: float | None = Field(description="params of the best over the unpruned's")
    macs_ratio: float | None = Field(description="MACs of the best over the unpruned's")
    gain_over_uniform: float | None = Field(
        description="validation accuracy minus the uniform baseline's"
    )
    gain_over_global: float | None = Field(
        description="validation accuracy minus the global baseline's"
    )
    gain_over_sensitivity: float | None = Field(
        default=None, description="validation accuracy minus the sensitivity baseline's"
    )
    test_gain_over_uniform: float | None = Field(
        default=None, description="test accuracy minus the uniform baseline's"
    )
    test_gain_over_global: float | None = Field(
        default=None, description="test accuracy minus the global baseline's"
    )
    test_gain_over_sensitivity: float | None = Field(
        default=None, description="test accuracy minus the sensitivity baseline's"
    )
    margin: float | None = Field(
        default=None,
        description="validation accuracy minus the best baseline's, paired on the same images; "
        "none when the best is a baseline",
    )
    margin_se: float | None = Field(default=None, description="standard error of the margin")
    margin_ci95: tuple[float, float] | None = Field(
        default=None, description="the margin's 95% interval: margin ± 1.96 standard errors"
    )
    baselines: dict[str, CandidateOut | None]
    formats: list[str] = Field(description="formats /best/model can send (none until final)")

    @classmethod
    def of(
        cls,
        job: Job,
        best: CandidateOut,
        final: bool,
        baselines: Mapping[str, Candidate | None],
        formats: list[str],
    ) -> BestOut:
        result = job.result or {}
        reference = job.reference or result.get("reference")
        return cls(
            job_id=job.id,
            job_status=job.status,
            final=final,
            candidate=best,
            reference=reference,
            params_ratio=_ratio(best.params, reference, "params"),
            macs_ratio=_ratio(best.macs, reference, "macs"),
            gain_over_uniform=result.get("gain_over_uniform"),
            gain_over_global=result.get("gain_over_global"),
            gain_over_sensitivity=result.get("gain_over_sensitivity"),
            test_gain_over_uniform=result.get("test_gain_over_uniform"),
            test_gain_over_global=result.get("test_gain_over_global"),
            test_gain_over_sensitivity=result.get("test_gain_over_sensitivity"),
            **_margin(best),
            baselines={
                kind: None if row is None else CandidateOut.model_validate(row)
                for kind, row in baselines.items()
            },
            formats=formats,
        )


def _margin(best: CandidateOut) -> dict[str, Any]:
    """The best's paired margin over the best baseline with its 95% interval; none when the
    best is a baseline (the search kept a baseline: there is no gain to put a margin on)."""
    if best.kind == CandidateKind.SEARCH and best.margin is not None:
        se = best.margin_se
        ci = None if se is None else (best.margin - Z95 * se, best.margin + Z95 * se)
        return {"margin": best.margin, "margin_se": se, "margin_ci95": ci}
    return {"margin": None, "margin_se": None, "margin_ci95": None}


def _ratio(value: int | None, reference: Mapping[str, Any] | None, key: str) -> float | None:
    total = (reference or {}).get(key)
    if value is None or not total:
        return None
    return float(value) / float(total)
