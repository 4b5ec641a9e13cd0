"""The job lifecycle, in one place: which status changes are allowed, and their record.

queued -> running -> finalizing -> succeeded; any non-final status -> failed | cancelled;
running -> queued when the sweeper re-enqueues a job whose runner vanished. Every change,
and the submission itself, appends a :class:`JobEvent` with its time.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from service.exceptions import Conflict, InvalidTransition
from service.models._base import utcnow
from service.models._enums import JobStatus
from service.models._job import Job, JobEvent

__all__ = ["ALLOWED_TRANSITIONS", "add_job", "request_cancel", "transition"]

_S = JobStatus
ALLOWED_TRANSITIONS: Mapping[JobStatus, frozenset[JobStatus]] = {
    _S.QUEUED: frozenset({_S.RUNNING, _S.FAILED, _S.CANCELLED}),
    _S.RUNNING: frozenset({_S.FINALIZING, _S.QUEUED, _S.FAILED, _S.CANCELLED}),
    _S.FINALIZING: frozenset({_S.SUCCEEDED, _S.FAILED, _S.CANCELLED}),
    _S.SUCCEEDED: frozenset(),
    _S.FAILED: frozenset(),
    _S.CANCELLED: frozenset(),
}


def add_job(session: Session, job: Job, message: str | None = "submitted") -> JobEvent:
    """Add a new ``queued`` job to ``session`` with its first event (from no status)."""
    if job.status is not JobStatus.QUEUED:
        raise InvalidTransition(f"a new job starts queued, not {job.status.value}")
    now = utcnow()
    if job.created_at is None:
        job.created_at = now
    session.add(job)
    event = JobEvent(at=job.created_at, to_status=JobStatus.QUEUED, message=message)
    job.events.append(event)
    return event


def transition(
    session: Session,
    job: Job,
    to_status: JobStatus | str,
    message: str | None = None,
    *,
    now: datetime | None = None,
) -> JobEvent:
    """Move ``job`` to ``to_status`` and record the change; the caller commits.

    The status is compared and set in one UPDATE, so of two processes racing to move the
    same job (a runner finishing, the sweeper re-enqueueing) exactly one wins.

    Raises:
        InvalidTransition: The lifecycle does not allow the change.
        Conflict: Another process changed the job's status first; ``job`` is refreshed.
    """
    target = JobStatus(to_status)
    current = job.status
    if target not in ALLOWED_TRANSITIONS[current]:
        raise InvalidTransition(f"job {job.id}: cannot go from {current.value} to {target.value}")
    now = now or utcnow()
    _compare_and_set(session, job, current, _values(job, target, message, now))
    event = JobEvent(at=now, from_status=current, to_status=target, message=message)
    job.events.append(event)
    return event


def request_cancel(session: Session, job: Job, message: str | None = None) -> Job:
    """Cancel ``job``: a queued one at once; a running one by raising the flag its runner
    checks every epoch (it then moves to ``cancelled`` itself). A finished job is left as
    it is, so repeating a cancel is harmless."""
    if job.status is JobStatus.QUEUED:
        transition(session, job, JobStatus.CANCELLED, message or "cancelled before it started")
    elif not job.status.is_final:
        job.cancel_requested = True
    return job


def _values(job: Job, target: JobStatus, message: str | None, now: datetime) -> dict[str, Any]:
    values: dict[str, Any] = {"status": target, "updated_at": now}
    if target is JobStatus.RUNNING and job.started_at is None:
        values["started_at"] = now
    if target is JobStatus.QUEUED:
        values["runner_heartbeat_at"] = None  # its runner is gone; the next one sets it
    if target.is_final:
        values["finished_at"] = now
    if target is JobStatus.FAILED:
        values["error"] = message or "failed"
    return values


def _compare_and_set(
    session: Session, job: Job, current: JobStatus, values: dict[str, Any]
) -> None:
    statement = (
        update(Job)
        .where(Job.id == job.id, Job.status == current)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    result = cast(CursorResult[Any], session.execute(statement))
    if result.rowcount != 1:
        session.refresh(job)
        raise Conflict(
            f"job {job.id} changed concurrently: it is {job.status.value} now, not {current.value}"
        )
    # Mirror the row on the object as already saved ("evaluate" sync skips some columns).
    for key, value in values.items():
        set_committed_value(job, key, value)
