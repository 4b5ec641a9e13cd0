"""The contract of :class:`workers.JobStore`, run on every implementation alike.

Like Optuna's ``tests/storages_tests``: one set of behavioural tests, parametrised over the
stores (the tests' in-memory :class:`MemoryStore`, and the service's :class:`SqlJobStore` on
SQLite and on a real PostgreSQL), so the fake the worker tests run on is proven to keep
the rules the real one keeps. Each store comes with a small harness for what the port
itself cannot do (submit a job, press cancel, upload an artifact, age a job) and for reading
back what it wrote; the assertions see only plain values.
"""

from __future__ import annotations

import abc
import math
import time
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from search import Candidate as SearchCandidate
from service.artifacts import ArtifactStore
from service.db import Database, migrate
from service.jobs import SqlJobStore
from service.models import Candidate as CandidateRow
from service.models import Job, JobStatus, SliceRun, WorkerProcess, utcnow
from tests.postgres import throwaway_database
from tests.service.factories import make_artifact, make_job
from tests.workers.memory_store import MemoryStore
from workers import (
    ArtifactResolver,
    JobLifecycle,
    JobStore,
    JobTicket,
    TrialGate,
    WorkerBeat,
    WorkerTelemetry,
)

SPEC: dict[str, Any] = {"name": "contract", "search": {"n_trials": 3, "parallelism": 2}}
NOT_FINAL = (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.FINALIZING)
FINAL = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)
# How each status is reached through the port, from a fresh (queued) job.
PATHS: dict[JobStatus, list[str]] = {
    JobStatus.QUEUED: [],
    JobStatus.RUNNING: ["start"],
    JobStatus.FINALIZING: ["start", "begin_finalizing"],
    JobStatus.SUCCEEDED: ["start", "begin_finalizing", "succeed"],
    JobStatus.FAILED: ["fail"],
    JobStatus.CANCELLED: ["mark_cancelled"],
}


class Harness(abc.ABC):
    """A store under test, with what the service would do and reads for the assertions."""

    store: JobStore

    @abc.abstractmethod
    def submit(self, owner: str = "alice", device_kind: str = "cpu") -> str:
        """A new queued job of ``owner`` with SPEC."""

    @abc.abstractmethod
    def request_cancel(self, job_id: str) -> None: ...

    @abc.abstractmethod
    def add_artifact(self, owner: str, payload: bytes) -> str: ...

    @abc.abstractmethod
    def backdate(self, job_id: str, seconds: float) -> None:
        """Make the job's last sign of life (heartbeat, last change) ``seconds`` older."""

    @abc.abstractmethod
    def history(self, job_id: str) -> list[str]: ...

    @abc.abstractmethod
    def error(self, job_id: str) -> str | None: ...

    @abc.abstractmethod
    def outcome(self, job_id: str) -> tuple[Any, str | None]:
        """(result, best artifact id)."""

    @abc.abstractmethod
    def progress(self, job_id: str) -> tuple[int, int, float | None]:
        """(trials done, trials failed, best score)."""

    @abc.abstractmethod
    def candidate(self, job_id: str, number: int, field: str) -> Any: ...

    @abc.abstractmethod
    def candidate_numbers(self, job_id: str) -> list[int]: ...

    @abc.abstractmethod
    def slices(self, job_id: str) -> list[tuple[str, int]]:
        """(worker, trials) of each slice recorded."""

    @abc.abstractmethod
    def heartbeats(self) -> dict[tuple[str, int], tuple[int, int]]:
        """(tasks done, slices done) by (worker, process)."""

    def submit_in(self, status: JobStatus, **kwargs: Any) -> str:
        """A job walked through the port to ``status``."""
        job_id = self.submit(**kwargs)
        for step in PATHS[status]:
            if step == "start":
                assert self.store.start(job_id)
            elif step == "begin_finalizing":
                assert self.store.begin_finalizing(job_id)
            elif step == "succeed":
                self.store.succeed(job_id, {"best": None}, None)
            elif step == "fail":
                self.store.fail(job_id, "failed on purpose")
            else:
                self.store.mark_cancelled(job_id)
        assert self.store.load(job_id).status is status
        return job_id


class MemoryHarness(Harness):
    def __init__(self, root: Path) -> None:
        self.root = root
        self.store = self.memory = MemoryStore(root, f"sqlite:///{root / 'optuna.db'}")

    def submit(self, owner: str = "alice", device_kind: str = "cpu") -> str:
        return self.memory.submit(SPEC, owner=owner, device_kind=device_kind)

    def request_cancel(self, job_id: str) -> None:
        self.memory.request_cancel(job_id)

    def add_artifact(self, owner: str, payload: bytes) -> str:
        path = self.root / "uploads" / f"{time.perf_counter_ns()}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(payload)
        return self.memory.add_artifact(owner, path)

    def backdate(self, job_id: str, seconds: float) -> None:
        with self.memory._lock:
            job = self.memory._jobs[job_id]
            job.heartbeat_at -= seconds
            job.events = [(s, note, t - seconds) for s, note, t in job.events]

    def history(self, job_id: str) -> list[str]:
        return self.memory.history(job_id)

    def error(self, job_id: str) -> str | None:
        return self.memory.job(job_id).error

    def outcome(self, job_id: str) -> tuple[Any, str | None]:
        job = self.memory.job(job_id)
        return job.result, job.best_artifact

    def progress(self, job_id: str) -> tuple[int, int, float | None]:
        progress = self.memory.job(job_id).progress
        return (
            progress.get("trials_done", 0),
            progress.get("trials_failed", 0),
            progress.get("best_score"),
        )

    def candidate(self, job_id: str, number: int, field: str) -> Any:
        return self.memory.job(job_id).candidates[number].get(field)

    def candidate_numbers(self, job_id: str) -> list[int]:
        return sorted(self.memory.job(job_id).candidates)

    def slices(self, job_id: str) -> list[tuple[str, int]]:
        return [(s["worker"], s["trials"]) for s in self.memory.slices if s["job_id"] == job_id]

    def heartbeats(self) -> dict[tuple[str, int], tuple[int, int]]:
        return {key: (b.tasks_done, b.slices_done) for key, b in self.memory.heartbeats.items()}


class SqlHarness(Harness):
    def __init__(self, url: str, root: Path) -> None:
        self.database = Database(url)
        self.sql = SqlJobStore(self.database, ArtifactStore(root / "store"))
        self.store = self.sql

    def submit(self, owner: str = "alice", device_kind: str = "cpu") -> str:
        with self.database.session() as session:
            return make_job(session, owner, spec_data=SPEC, device_kind=device_kind).id

    def request_cancel(self, job_id: str) -> None:
        with self.database.session() as session:
            self._job(session, job_id).cancel_requested = True

    def add_artifact(self, owner: str, payload: bytes) -> str:
        with self.database.session() as session:
            return make_artifact(session, self.sql.artifacts, owner, payload).id

    def backdate(self, job_id: str, seconds: float) -> None:
        shift = timedelta(seconds=seconds)
        with self.database.session() as session:
            job = self._job(session, job_id)
            values: dict[str, Any] = {"updated_at": job.updated_at - shift}
            for column in ("runner_heartbeat_at", "finished_at"):
                if getattr(job, column) is not None:
                    values[column] = getattr(job, column) - shift
            session.execute(update(Job).where(Job.id == job_id).values(**values))

    def history(self, job_id: str) -> list[str]:
        with self.database.session() as session:
            return [event.to_status.value for event in self._job(session, job_id).events]

    def error(self, job_id: str) -> str | None:
        with self.database.session() as session:
            return self._job(session, job_id).error

    def outcome(self, job_id: str) -> tuple[Any, str | None]:
        with self.database.session() as session:
            job = self._job(session, job_id)
            return job.result, job.best_artifact_id

    def progress(self, job_id: str) -> tuple[int, int, float | None]:
        with self.database.session() as session:
            job = self._job(session, job_id)
            return job.trials_done, job.trials_failed, job.best_score

    def candidate(self, job_id: str, number: int, field: str) -> Any:
        with self.database.session() as session:
            row = session.scalars(
                select(CandidateRow).filter_by(job_id=job_id, number=number)
            ).one()
            value = getattr(row, field)
            return value.value if hasattr(value, "value") else value

    def candidate_numbers(self, job_id: str) -> list[int]:
        with self.database.session() as session:
            statement = select(CandidateRow.number).filter_by(job_id=job_id)
            return sorted(session.scalars(statement))

    def slices(self, job_id: str) -> list[tuple[str, int]]:
        with self.database.session() as session:
            rows = session.scalars(select(SliceRun).filter_by(job_id=job_id).order_by(SliceRun.id))
            return [(row.worker, row.trials) for row in rows]

    def heartbeats(self) -> dict[tuple[str, int], tuple[int, int]]:
        with self.database.session() as session:
            rows = session.scalars(select(WorkerProcess))
            return {(r.worker, r.process): (r.tasks_done, r.slices_done) for r in rows}

    @staticmethod
    def _job(session: Any, job_id: str) -> Job:
        job = session.get(Job, job_id)
        assert job is not None
        return job


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """One migrated PostgreSQL database for the module (each test makes jobs of its own)."""
    with throwaway_database("ps_contract") as url:
        migrate(url)
        yield url


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    if request.param == "memory":
        yield MemoryHarness(tmp_path)
        return
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'db.sqlite'}"
        migrate(url)
    else:
        url = request.getfixturevalue("postgres_url")
    sql = SqlHarness(url, tmp_path)
    yield sql
    sql.database.dispose()


# -- the port's shape --


def test_the_port_is_three_concerns() -> None:
    assert issubclass(JobStore, JobLifecycle)
    assert issubclass(JobStore, ArtifactResolver)
    assert issubclass(JobStore, WorkerTelemetry)
    lifecycle = set(JobLifecycle.__abstractmethods__)
    artifacts = set(ArtifactResolver.__abstractmethods__)
    telemetry = set(WorkerTelemetry.__abstractmethods__)
    assert not (lifecycle & artifacts or lifecycle & telemetry or artifacts & telemetry)
    assert JobStore.__abstractmethods__ == lifecycle | artifacts | telemetry
    assert artifacts == {"artifact_path", "reference_path", "store_bundle"}
    assert telemetry == {"record_slice", "record_heartbeat"}


# -- lifecycle --


def test_a_new_job_is_queued_as_submitted(harness: Harness) -> None:
    job_id = harness.submit(owner="carol", device_kind="cuda")
    other = harness.submit()

    ticket = harness.store.load(job_id)

    assert isinstance(ticket, JobTicket)
    assert ticket.id == job_id and ticket.owner == "carol"
    assert ticket.status is JobStatus.QUEUED and not ticket.is_final
    assert ticket.device_kind == "cuda"
    assert dict(ticket.spec) == SPEC
    assert not ticket.cancel_requested and not ticket.prepared
    assert ticket.study_name and ticket.study_name != harness.store.load(other).study_name
    assert harness.history(job_id) == ["queued"]
    assert isinstance(harness.store.storage_url, str) and harness.store.storage_url


def test_the_whole_lifecycle_is_recorded_and_a_final_status_never_changes(
    harness: Harness, tmp_path: Path
) -> None:
    store = harness.store
    job_id = harness.submit()
    (tmp_path / "model.safetensors").write_bytes(b"weights")

    assert store.start(job_id) and store.start(job_id)  # a second slice joins
    assert not store.begin_running(job_id)  # only from queued
    assert store.begin_finalizing(job_id)
    assert not store.begin_finalizing(job_id)  # exactly one finalize
    assert not store.start(job_id)
    store.requeue(job_id, "only from running")
    bundle = store.store_bundle(job_id, tmp_path)
    store.succeed(job_id, {"best": {"number": 1}, "score": math.nan}, bundle)
    for late in (
        lambda: store.fail(job_id, "too late"),
        lambda: store.mark_cancelled(job_id),
        lambda: store.requeue(job_id, "too late"),
        lambda: store.succeed(job_id, {"best": None}, None),
    ):
        late()

    assert store.load(job_id).status is JobStatus.SUCCEEDED and store.load(job_id).is_final
    assert harness.history(job_id) == ["queued", "running", "finalizing", "succeeded"]
    # Non-finite numbers have no JSON spelling: stored as None.
    assert harness.outcome(job_id) == ({"best": {"number": 1}, "score": None}, bundle)
    assert not store.start(job_id) and not store.begin_finalizing(job_id)


def test_succeed_only_from_finalizing(harness: Harness) -> None:
    job_id = harness.submit_in(JobStatus.RUNNING)

    harness.store.succeed(job_id, {"best": None}, None)

    assert harness.store.load(job_id).status is JobStatus.RUNNING
    assert harness.outcome(job_id) == (None, None)


@pytest.mark.parametrize("source", NOT_FINAL)
def test_any_status_not_final_can_fail_with_its_message(
    harness: Harness, source: JobStatus
) -> None:
    job_id = harness.submit_in(source)

    harness.store.fail(job_id, "out of memory: lower finetune.batch_size")

    assert harness.store.load(job_id).status is JobStatus.FAILED
    assert harness.error(job_id) == "out of memory: lower finetune.batch_size"
    assert harness.history(job_id)[-1] == "failed"


@pytest.mark.parametrize("source", NOT_FINAL)
def test_any_status_not_final_can_be_cancelled(harness: Harness, source: JobStatus) -> None:
    job_id = harness.submit_in(source)

    harness.store.mark_cancelled(job_id)

    assert harness.store.load(job_id).status is JobStatus.CANCELLED


@pytest.mark.parametrize("final", FINAL)
def test_a_final_job_stays_final(harness: Harness, final: JobStatus) -> None:
    job_id = harness.submit_in(final)
    before = harness.history(job_id)

    assert not harness.store.start(job_id)
    assert not harness.store.begin_running(job_id)
    assert not harness.store.begin_finalizing(job_id)
    harness.store.fail(job_id, "again")
    harness.store.mark_cancelled(job_id)
    harness.store.requeue(job_id, "again")

    assert harness.store.load(job_id).status is final
    assert harness.history(job_id) == before


@pytest.mark.parametrize("source", [JobStatus.QUEUED, JobStatus.FINALIZING])
def test_requeue_only_from_running(harness: Harness, source: JobStatus) -> None:
    job_id = harness.submit_in(source)
    harness.store.requeue(job_id, "runner vanished; restarted")
    assert harness.store.load(job_id).status is source

    running = harness.submit_in(JobStatus.RUNNING)
    harness.store.requeue(running, "runner vanished; restarted")
    assert harness.store.load(running).status is JobStatus.QUEUED
    assert harness.history(running) == ["queued", "running", "queued"]
    assert harness.store.begin_running(running)  # prepared again by one task


def test_starting_a_finalizing_job_is_refused(harness: Harness) -> None:
    job_id = harness.submit_in(JobStatus.FINALIZING)
    assert not harness.store.start(job_id)
    assert not harness.store.begin_running(job_id)
    assert harness.store.load(job_id).status is JobStatus.FINALIZING


@pytest.mark.parametrize("method", ["begin_running", "begin_finalizing"])
def test_racing_callers_see_exactly_one_winner(harness: Harness, method: str) -> None:
    job_id = harness.submit_in(JobStatus.QUEUED if method == "begin_running" else JobStatus.RUNNING)
    call = getattr(harness.store, method)

    with ThreadPoolExecutor(4) as pool:
        won = list(pool.map(lambda _: call(job_id), range(4)))

    assert sorted(won) == [False, False, False, True]
    target = "running" if method == "begin_running" else "finalizing"
    assert harness.history(job_id).count(target) == 1


def test_racing_starts_of_one_owner_never_pass_its_limit(harness: Harness) -> None:
    jobs = [harness.submit(owner="dora") for _ in range(4)]
    other = harness.submit(owner="erin")

    with ThreadPoolExecutor(4) as pool:
        won = list(pool.map(lambda j: harness.store.begin_running(j, max_running=2), jobs))

    assert sorted(won) == [False, False, True, True]
    assert harness.store.running_jobs("dora") == 2
    lost = {job_id for job_id, started in zip(jobs, won, strict=True) if not started}
    assert set(harness.store.queued_jobs("dora")) == lost
    assert harness.store.begin_running(other, max_running=2)  # slots are per owner


def test_running_slots_are_running_and_finalizing_jobs(harness: Harness) -> None:
    statuses = (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.FINALIZING, JobStatus.FAILED)
    for status in statuses:
        harness.submit_in(status, owner="fred")
    later = harness.submit(owner="fred")

    assert harness.store.running_jobs("fred") == 2
    assert harness.store.running_jobs("nobody") == 0
    assert len(harness.store.queued_jobs("fred")) == 2
    assert harness.store.queued_jobs("fred")[-1] == later  # oldest first
    assert not harness.store.begin_running(later, max_running=2)
    assert harness.store.load(later).status is JobStatus.QUEUED
    assert harness.store.begin_running(later, max_running=3)


def test_racing_starts_all_join_and_start_once(harness: Harness) -> None:
    job_id = harness.submit()

    with ThreadPoolExecutor(4) as pool:
        joined = list(pool.map(lambda _: harness.store.start(job_id), range(4)))

    assert joined == [True] * 4
    assert harness.history(job_id) == ["queued", "running"]


def test_the_cancel_flag_and_the_reference(harness: Harness) -> None:
    job_id = harness.submit_in(JobStatus.RUNNING)
    assert not harness.store.cancel_requested(job_id)

    harness.request_cancel(job_id)
    harness.store.record_reference(job_id, {"params": 10, "macs": 20})

    assert harness.store.cancel_requested(job_id)
    ticket = harness.store.load(job_id)
    assert ticket.cancel_requested and ticket.prepared
    assert ticket.status is JobStatus.RUNNING  # the flag is honoured by the workers


def test_progress_from_parallel_slices_never_goes_backwards(harness: Harness) -> None:
    store, job_id = harness.store, harness.submit_in(JobStatus.RUNNING)

    store.record_progress(job_id, trials_done=5, trials_failed=1, best_score=0.8, eta_s=None)
    # A slower slice reports what it saw earlier; a slice with no score yet says None.
    store.record_progress(job_id, trials_done=3, trials_failed=0, best_score=0.6, eta_s=9.0)
    store.record_progress(job_id, trials_done=4, trials_failed=0, best_score=None, eta_s=None)
    assert harness.progress(job_id) == (5, 1, 0.8)

    store.record_progress(job_id, trials_done=6, trials_failed=2, best_score=0.9, eta_s=1.0)
    store.record_progress(job_id, trials_done=6, trials_failed=2, best_score=math.nan, eta_s=None)
    assert harness.progress(job_id) == (6, 2, 0.9)


# -- staleness --


@pytest.mark.parametrize("status", [*NOT_FINAL, *FINAL])
def test_a_job_not_final_goes_stale_when_quiet_and_a_final_one_never(
    harness: Harness, status: JobStatus
) -> None:
    job_id = harness.submit_in(status)
    assert job_id not in harness.store.stale_jobs(60.0)

    harness.backdate(job_id, 3600.0)

    assert (job_id in harness.store.stale_jobs(60.0)) is not status.is_final
    assert job_id not in harness.store.stale_jobs(7200.0)


@pytest.mark.parametrize(
    "sign_of_life",
    [
        "beat",
        "record_progress",
        "start",
        "begin_running",
        "requeue",
    ],
)
def test_a_sign_of_life_makes_a_stale_job_fresh(harness: Harness, sign_of_life: str) -> None:
    store = harness.store
    status = JobStatus.QUEUED if sign_of_life in ("start", "begin_running") else JobStatus.RUNNING
    job_id = harness.submit_in(status)
    harness.backdate(job_id, 3600.0)
    assert job_id in store.stale_jobs(60.0)

    if sign_of_life == "record_progress":
        store.record_progress(job_id, trials_done=1, trials_failed=0, best_score=None, eta_s=None)
    elif sign_of_life == "requeue":
        store.requeue(job_id, "runner vanished; restarted")  # its last change is now
    else:
        getattr(store, sign_of_life)(job_id)

    assert job_id not in store.stale_jobs(60.0)


def test_ended_jobs_are_those_that_became_final_lately(harness: Harness) -> None:
    running = harness.submit_in(JobStatus.RUNNING)
    ended = harness.submit_in(JobStatus.RUNNING)
    long_ago = harness.submit_in(JobStatus.RUNNING)
    harness.store.fail(ended, "gave up")
    harness.store.mark_cancelled(long_ago)
    harness.backdate(long_ago, 7200.0)

    recent = harness.store.ended_jobs(3600.0)

    assert ended in recent
    assert running not in recent and long_ago not in recent
    assert long_ago in harness.store.ended_jobs(3 * 3600.0)


# -- candidates --


def _cands(*values: dict[str, Any]) -> list[SearchCandidate]:
    """Candidates as the search hands them over."""
    return [SearchCandidate.from_dict(v) for v in values]


def test_candidates_are_upserted_by_number(harness: Harness) -> None:
    store, job_id = harness.store, harness.submit_in(JobStatus.RUNNING)
    first = {"number": 0, "kind": "uniform", "state": "complete", "ratios": {"a": 0.5}}
    store.record_candidates(
        job_id, _cands(first, {"number": 1, "kind": "search", "state": "running"})
    )

    store.record_candidates(
        job_id,
        _cands(
            {**first, "accuracy": 0.9, "pareto": True},
            {"number": 1, "kind": "search", "state": "complete", "proxy_score": math.inf},
            {"number": 2, "kind": "search", "state": "running", "accuracy": 0.1},
            {"number": 2, "kind": "search", "state": "complete", "accuracy": 0.2},  # last wins
        ),
    )

    assert harness.candidate_numbers(job_id) == [0, 1, 2]
    assert harness.candidate(job_id, 0, "accuracy") == 0.9
    assert harness.candidate(job_id, 0, "pareto") is True
    assert harness.candidate(job_id, 0, "ratios") == {"a": 0.5}
    assert harness.candidate(job_id, 1, "state") == "complete"
    assert harness.candidate(job_id, 1, "proxy_score") is None  # no JSON spelling for inf
    assert (harness.candidate(job_id, 2, "state"), harness.candidate(job_id, 2, "accuracy")) == (
        "complete",
        0.2,
    )

    # A whole candidate is written each time: a field it lacks does not keep an old value.
    store.record_candidates(job_id, _cands({"number": 0, "kind": "uniform", "state": "complete"}))
    assert harness.candidate(job_id, 0, "accuracy") is None


def test_candidates_of_jobs_are_kept_apart(harness: Harness) -> None:
    one, two = harness.submit_in(JobStatus.RUNNING), harness.submit_in(JobStatus.RUNNING)
    harness.store.record_candidates(
        one, _cands({"number": 0, "kind": "search", "state": "complete", "accuracy": 0.5})
    )
    harness.store.record_candidates(
        two, _cands({"number": 0, "kind": "search", "state": "complete", "accuracy": 0.7})
    )
    assert harness.candidate(one, 0, "accuracy") == 0.5
    assert harness.candidate(two, 0, "accuracy") == 0.7


# -- unknown ids --


def test_unknown_jobs_raise_key_error(harness: Harness, tmp_path: Path) -> None:
    store, missing = harness.store, "no-such-job"
    folder = tmp_path / "bundle"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"w")
    calls = {
        "load": lambda: store.load(missing),
        "start": lambda: store.start(missing),
        "begin_running": lambda: store.begin_running(missing),
        "begin_finalizing": lambda: store.begin_finalizing(missing),
        "succeed": lambda: store.succeed(missing, {}, None),
        "fail": lambda: store.fail(missing, "x"),
        "mark_cancelled": lambda: store.mark_cancelled(missing),
        "requeue": lambda: store.requeue(missing, "x"),
        "beat": lambda: store.beat(missing),
        "cancel_requested": lambda: store.cancel_requested(missing),
        "record_reference": lambda: store.record_reference(missing, {}),
        "record_progress": lambda: store.record_progress(
            missing, trials_done=1, trials_failed=0, best_score=None, eta_s=None
        ),
        "record_candidates": lambda: store.record_candidates(
            missing, _cands({"number": 0, "kind": "search", "state": "complete"})
        ),
        "reference_path": lambda: store.reference_path(missing),
        "store_bundle": lambda: store.store_bundle(missing, folder),
        "record_slice": lambda: store.record_slice(
            missing, worker="w", started_at=datetime.now(UTC), seconds=1.0, trials=1
        ),
    }
    for name, call in calls.items():
        try:
            call()
        except KeyError:
            continue
        pytest.fail(f"{name} of an unknown job raised no KeyError")
    assert missing not in store.stale_jobs(0.0) and missing not in store.ended_jobs(1e9)


# -- artifacts --


def test_artifacts_are_owner_scoped(harness: Harness) -> None:
    artifact_id = harness.add_artifact("carol", b"weights")

    assert harness.store.artifact_path("carol", artifact_id).read_bytes() == b"weights"
    with pytest.raises(KeyError):
        harness.store.artifact_path("mallory", artifact_id)  # never learns it exists
    with pytest.raises(KeyError):
        harness.store.artifact_path("carol", "0" * 32)


def test_a_bundle_becomes_an_artifact_of_the_jobs_owner(harness: Harness, tmp_path: Path) -> None:
    folder = tmp_path / "bundle"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"weights")
    (folder / "policy.json").write_text("{}")
    job_id = harness.submit_in(JobStatus.FINALIZING, owner="carol")

    artifact_id = harness.store.store_bundle(job_id, folder)
    again = harness.store.store_bundle(job_id, folder)

    assert again != artifact_id  # each call keeps a bundle of its own
    assert _bundle_files(harness.store.artifact_path("carol", artifact_id)) == [
        "model.safetensors",
        "policy.json",
    ]
    with pytest.raises(KeyError):
        harness.store.artifact_path("alice", artifact_id)


def _bundle_files(path: Path) -> list[str]:
    """The files of a stored bundle: its form (a zip, or the folder) is the store's."""
    if path.is_dir():
        return sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file())
    return sorted(zipfile.ZipFile(path).namelist())


def test_the_reference_path_is_one_per_job(harness: Harness) -> None:
    one, two = harness.submit(), harness.submit()
    path = harness.store.reference_path(one)
    assert harness.store.reference_path(one) == path  # shared by all the job's tasks
    assert harness.store.reference_path(two) != path
    assert path.suffix == ".safetensors"


# -- telemetry --


def test_slices_are_recorded(harness: Harness) -> None:
    job_id = harness.submit_in(JobStatus.RUNNING)
    start = datetime.now(UTC)

    harness.store.record_slice(job_id, worker="w1@a", started_at=start, seconds=2.5, trials=2)
    harness.store.record_slice(job_id, worker="w2@b", started_at=start, seconds=0.5, trials=0)

    assert harness.slices(job_id) == [("w1@a", 2), ("w2@b", 0)]


def test_a_heartbeat_is_an_upsert_per_worker_process(harness: Harness) -> None:
    started = utcnow()

    def beat(process: int, tasks: int, slices: int) -> WorkerBeat:
        return WorkerBeat(
            worker="w1@host",
            process=process,
            hostname="host",
            pid=100 + process,
            queues=("cpu",),
            started_at=started,
            tasks_done=tasks,
            slices_done=slices,
        )

    harness.store.record_heartbeat(beat(0, 1, 0))
    harness.store.record_heartbeat(beat(0, 3, 2))
    harness.store.record_heartbeat(beat(1, 0, 0))

    beats = {k: v for k, v in harness.heartbeats().items() if k[0] == "w1@host"}
    assert beats == {("w1@host", 0): (3, 2), ("w1@host", 1): (0, 0)}


def test_the_trial_gate_is_a_lock_per_job(harness: Harness) -> None:
    job_id = harness.submit_in(JobStatus.RUNNING)
    gate = harness.store.trial_gate(job_id)
    assert isinstance(gate, TrialGate)

    gate.acquire()
    gate.release()
    gate.acquire()  # released: it can be taken again
    gate.release()
