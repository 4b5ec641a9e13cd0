"""Jobs, their candidates (the leaderboard) and their status history.

JSON columns are replaced, not mutated in place: ``job.result = {**job.result, ...}``
(in-place edits of a dict are invisible to the ORM and would not be saved).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from service.models._base import Base, JsonType, UtcDateTime, enum_column, new_id, utcnow
from service.models._enums import CandidateKind, DeviceKind, JobStatus

if TYPE_CHECKING:
    from service.models._artifact import Artifact

__all__ = ["Candidate", "Job", "JobEvent"]


class Job(Base):
    __tablename__ = "ps_jobs"
    __table_args__ = (
        # A repeated POST with the same Idempotency-Key finds the first job (NULLs distinct).
        UniqueConstraint("owner", "idempotency_key"),
        Index("ix_ps_jobs_owner_created_at", "owner", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(200))
    spec: Mapped[dict[str, Any]] = mapped_column(JsonType)
    status: Mapped[JobStatus] = mapped_column(enum_column(JobStatus, "job_status"), index=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    device_kind: Mapped[DeviceKind] = mapped_column(
        enum_column(DeviceKind, "device_kind"), default=DeviceKind.CPU
    )

    # The Optuna study; storage_url None means the service's own database.
    study_name: Mapped[str] = mapped_column(String(255))
    storage_url: Mapped[str | None] = mapped_column(Text)

    trials_planned: Mapped[int] = mapped_column(Integer)
    # The search's stage as the runner last reported it: screen, rung-k, final.
    stage: Mapped[str | None] = mapped_column(String(16))
    trials_done: Mapped[int] = mapped_column(Integer, default=0)
    trials_failed: Mapped[int] = mapped_column(Integer, default=0)
    best_score: Mapped[float | None] = mapped_column(Float)
    # Seconds the screening trials left should take, as the runner last computed it.
    eta_s: Mapped[float | None] = mapped_column(Float)
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    error: Mapped[str | None] = mapped_column(Text)

    reference: Mapped[dict[str, Any] | None] = mapped_column(JsonType)  # unpruned model
    result: Mapped[dict[str, Any] | None] = mapped_column(JsonType)  # best candidate, ...
    best_artifact_id: Mapped[str | None] = mapped_column(
        ForeignKey("ps_artifacts.id", ondelete="SET NULL")
    )
    # The trained unpruned weights the job's tasks share, while the job runs (kind
    # reference; removed with its file once the job ends).
    reference_artifact_id: Mapped[str | None] = mapped_column(
        ForeignKey("ps_artifacts.id", ondelete="SET NULL")
    )

    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
    runner_heartbeat_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    best_artifact: Mapped[Artifact | None] = relationship(foreign_keys=[best_artifact_id])
    events: Mapped[list[JobEvent]] = relationship(
        back_populates="job",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="JobEvent.id",
    )
    candidates: Mapped[list[Candidate]] = relationship(
        back_populates="job",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Candidate.number",
    )

    def __init__(self, **kwargs: Any) -> None:
        # Known before the first flush, so callers can enqueue or name the study at once.
        kwargs.setdefault("id", new_id())
        kwargs.setdefault("study_name", f"prunesearch-{kwargs['id']}")
        kwargs.setdefault("status", JobStatus.QUEUED)
        super().__init__(**kwargs)

    def __repr__(self) -> str:
        return f"Job(id={self.id!r}, status={self.status.value!r})"


class JobEvent(Base):
    """One status change of a job; from_status is None for the submission itself."""

    __tablename__ = "ps_job_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("ps_jobs.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    from_status: Mapped[JobStatus | None] = mapped_column(enum_column(JobStatus, "from_status"))
    to_status: Mapped[JobStatus] = mapped_column(enum_column(JobStatus, "to_status"))
    message: Mapped[str | None] = mapped_column(Text)

    job: Mapped[Job] = relationship(back_populates="events")

    def __repr__(self) -> str:
        return f"JobEvent({self.from_status} -> {self.to_status} at {self.at:%Y-%m-%dT%H:%M:%S})"


class Candidate(Base):
    """One evaluated policy of a job, as :class:`search.Candidate` describes it."""

    __tablename__ = "ps_candidates"
    __table_args__ = (UniqueConstraint("job_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("ps_jobs.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    kind: Mapped[CandidateKind] = mapped_column(enum_column(CandidateKind, "candidate_kind"))
    state: Mapped[str] = mapped_column(String(16))  # the Optuna trial state, lower case
    criterion: Mapped[str | None] = mapped_column(String(16))
    ratios: Mapped[dict[str, float]] = mapped_column(JsonType, default=dict)
    params: Mapped[int | None] = mapped_column(BigInteger)
    macs: Mapped[int | None] = mapped_column(BigInteger)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    proxy_score: Mapped[float | None] = mapped_column(Float)
    accuracy: Mapped[float | None] = mapped_column(Float)
    test_accuracy: Mapped[float | None] = mapped_column(Float)
    feasible: Mapped[bool] = mapped_column(default=False)
    pareto: Mapped[bool] = mapped_column(default=False)
    # The last stage reached (screen, rung-k, final), its rung's score, and a finalist's
    # paired margin over the best baseline with its standard error.
    fidelity: Mapped[str] = mapped_column(String(16), default="screen", server_default="screen")
    rung_score: Mapped[float | None] = mapped_column(Float)
    margin: Mapped[float | None] = mapped_column(Float)
    margin_se: Mapped[float | None] = mapped_column(Float)
    timings: Mapped[dict[str, float]] = mapped_column(JsonType, default=dict)
    # From the timings, in columns of their own so /metrics aggregates them in SQL.
    trial_s: Mapped[float | None] = mapped_column(Float)  # prune + proxy fine-tune
    final_s: Mapped[float | None] = mapped_column(Float)  # the final fine-tune
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

    job: Mapped[Job] = relationship(back_populates="candidates")

    def __repr__(self) -> str:
        return f"Candidate(job_id={self.job_id!r}, number={self.number}, kind={self.kind.value!r})"
