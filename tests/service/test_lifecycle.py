"""The job lifecycle: allowed transitions, their timed events, races and ownership."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session

from service.db import make_session_factory
from service.exceptions import Conflict, InvalidTransition, NotFound
from service.models import (
    ALLOWED_TRANSITIONS,
    Candidate,
    CandidateKind,
    Job,
    JobEvent,
    JobStatus,
    add_job,
    find_idempotent_job,
    get_owned,
    request_cancel,
    transition,
)

S = JobStatus


def _job(session: Session, owner: str = "alice", key: str | None = None) -> Job:
    job = Job(
        owner=owner,
        name="digits",
        spec={"model": {"zoo": "mlp"}, "search": {"n_trials": 4}},
        trials_planned=4,
        idempotency_key=key,
    )
    add_job(session, job)
    session.commit()
    return job


def _events(engine: Engine, job_id: str) -> list[JobEvent]:
    with make_session_factory(engine)() as fresh:
        return list(fresh.scalars(select(JobEvent).where(JobEvent.job_id == job_id)))


def test_a_job_runs_to_success_with_every_change_timed(session: Session, engine: Engine) -> None:
    job = _job(session)
    assert job.study_name == f"prunesearch-{job.id}"
    for target in (S.RUNNING, S.FINALIZING, S.SUCCEEDED):
        transition(session, job, target, f"to {target}")
        session.commit()

    events = _events(engine, job.id)  # read back from the database, not the session
    assert [(e.from_status, e.to_status) for e in events] == [
        (None, S.QUEUED),
        (S.QUEUED, S.RUNNING),
        (S.RUNNING, S.FINALIZING),
        (S.FINALIZING, S.SUCCEEDED),
    ]
    times = [e.at for e in events]
    assert all(t.tzinfo is not None and t.utcoffset() == timedelta(0) for t in times)
    assert times == sorted(times)
    assert datetime.now(UTC) - times[0] < timedelta(minutes=1)
    with make_session_factory(engine)() as fresh:
        stored = fresh.get_one(Job, job.id)
        assert stored.status is S.SUCCEEDED
        assert stored.started_at == times[1]
        assert stored.finished_at == times[3]
        assert stored.error is None


@pytest.mark.parametrize(
    ("path", "refused"),
    [
        ([], S.FINALIZING),
        ([], S.SUCCEEDED),
        ([S.RUNNING], S.SUCCEEDED),
        ([S.RUNNING, S.FINALIZING], S.RUNNING),
        ([S.RUNNING, S.FINALIZING, S.SUCCEEDED], S.RUNNING),
        ([S.FAILED], S.QUEUED),
        ([S.CANCELLED], S.CANCELLED),
        ([S.RUNNING], S.RUNNING),
    ],
)
def test_invalid_transitions_raise_and_record_nothing(
    session: Session, engine: Engine, path: list[JobStatus], refused: JobStatus
) -> None:
    job = _job(session)
    for target in path:
        transition(session, job, target)
    session.commit()
    with pytest.raises(InvalidTransition, match=f"from {job.status.value} to {refused.value}"):
        transition(session, job, refused)
    session.commit()
    assert len(_events(engine, job.id)) == 1 + len(path)
    assert session.get_one(Job, job.id).status is (path[-1] if path else S.QUEUED)


def test_every_unfinished_status_can_fail_or_be_cancelled() -> None:
    for status, targets in ALLOWED_TRANSITIONS.items():
        if status.is_final:
            assert targets == frozenset()
        else:
            assert {S.FAILED, S.CANCELLED} <= targets


def test_a_failure_keeps_its_message(session: Session) -> None:
    job = _job(session)
    transition(session, job, S.RUNNING)
    transition(session, job, S.FAILED, "data: x_train has NaN values")
    session.commit()
    session.expire_all()
    assert job.status is S.FAILED
    assert job.error == "data: x_train has NaN values"
    assert job.finished_at is not None


def test_the_sweeper_requeues_a_running_job(session: Session, engine: Engine) -> None:
    job = _job(session)
    transition(session, job, S.RUNNING)
    job.runner_heartbeat_at = datetime.now(UTC)
    session.commit()
    started = job.started_at

    transition(session, job, S.QUEUED, "runner vanished")
    transition(session, job, S.RUNNING)
    session.commit()
    session.expire_all()
    assert job.started_at == started  # the first start stays the start
    assert job.runner_heartbeat_at is None
    assert [e.message for e in _events(engine, job.id)][-2:] == ["runner vanished", None]


def test_of_two_racing_changes_exactly_one_wins(engine: Engine, session: Session) -> None:
    job_id = _job(session).id
    factory = make_session_factory(engine)
    with factory() as runner, factory() as sweeper:
        mine, theirs = runner.get_one(Job, job_id), sweeper.get_one(Job, job_id)
        transition(runner, mine, S.RUNNING)
        runner.commit()
        with pytest.raises(Conflict, match="changed concurrently: it is running"):
            transition(sweeper, theirs, S.CANCELLED)
        assert theirs.status is S.RUNNING  # refreshed to what won
        sweeper.rollback()
    assert [e.to_status for e in _events(engine, job_id)] == [S.QUEUED, S.RUNNING]


def test_cancel_is_immediate_when_queued_and_a_flag_when_running(session: Session) -> None:
    queued, running, done = _job(session), _job(session), _job(session)
    transition(session, running, S.RUNNING)
    for target in (S.RUNNING, S.FINALIZING, S.SUCCEEDED):
        transition(session, done, target)
    for job in (queued, running, done):
        request_cancel(session, job)
        request_cancel(session, job)  # repeating it is harmless
    session.commit()
    assert (queued.status, queued.cancel_requested) == (S.CANCELLED, False)
    assert (running.status, running.cancel_requested) == (S.RUNNING, True)
    assert (done.status, done.cancel_requested) == (S.SUCCEEDED, False)


def test_idempotency_keys_are_unique_per_owner(session: Session) -> None:
    first = _job(session, "alice", key="k1")
    _job(session, "bob", key="k1")  # another owner may use the same key
    _job(session, "alice")
    _job(session, "alice")  # no key: no constraint
    assert find_idempotent_job(session, "alice", "k1") == first
    assert find_idempotent_job(session, "carol", "k1") is None
    with pytest.raises(IntegrityError):
        _job(session, "alice", key="k1")


def test_another_owners_job_is_not_found(session: Session) -> None:
    job = _job(session, "alice")
    assert get_owned(session, Job, job.id, "alice") is job
    for owner, job_id in (("bob", job.id), ("alice", "0" * 32), ("alice", "../etc")):
        with pytest.raises(NotFound):
            get_owned(session, Job, job_id, owner)


def test_candidates_are_unique_per_number_and_go_with_their_job(
    session: Session, engine: Engine
) -> None:
    job = _job(session)
    job.candidates.append(
        Candidate(
            number=0,
            kind=CandidateKind.UNIFORM,
            state="complete",
            ratios={"features.0": 0.5},
            params=1000,
            macs=12_000_000_000,  # beyond 32 bits
            timings={"proxy": 1.5},
            feasible=True,
        )
    )
    session.commit()
    session.expire_all()
    stored = job.candidates[0]
    assert (stored.ratios, stored.macs, stored.timings) == (
        {"features.0": 0.5},
        12 * 10**9,
        {"proxy": 1.5},
    )
    session.add(Candidate(job_id=job.id, number=0, kind=CandidateKind.SEARCH, state="running"))
    with pytest.raises(IntegrityError):
        session.commit()
    session.rollback()

    session.delete(session.get_one(Job, job.id))
    session.commit()
    with make_session_factory(engine)() as fresh:
        assert fresh.scalar(select(func.count()).select_from(Candidate)) == 0
        assert fresh.scalar(select(func.count()).select_from(JobEvent)) == 0


def test_naive_datetimes_are_refused(session: Session) -> None:
    job = _job(session)
    job.runner_heartbeat_at = datetime(2026, 1, 1)  # naive on purpose: no zone to guess
    with pytest.raises(StatementError, match="naive datetime"):
        session.commit()
