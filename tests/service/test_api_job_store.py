"""``SqlJobStore``: the workers' JobStore contract over the service's tables (SQLite here;
the PostgreSQL module runs the racing and upsert cases there too)."""

from __future__ import annotations

import hashlib
import math
import os
import time
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from search import Candidate as SearchCandidate
from service.api.schemas import ProgressOut
from service.artifacts import ArtifactStore
from service.db import Database, migrate
from service.exceptions import NotFound
from service.jobs import SqlJobStore
from service.models import Artifact, ArtifactKind, Candidate, Job, JobStatus, utcnow
from tests.service.factories import RecordingDispatcher, make_job
from workers import WorkerOptions, sweep
from workers.runner import STALE_TEMP_AFTER_S


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqlJobStore]:
    root = tmp_path_factory.mktemp("job-store")
    url = f"sqlite:///{root / 'db.sqlite'}"
    migrate(url)
    database = Database(url)
    yield SqlJobStore(database, ArtifactStore(root / "store"))
    database.dispose()


def _job(store: SqlJobStore, status: JobStatus = JobStatus.QUEUED, owner: str = "alice") -> Job:
    with store.database.session() as session:
        return make_job(session, owner, status=status)


def _status(store: SqlJobStore, job_id: str) -> tuple[str, list[str]]:
    with store.database.session() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job.status.value, [event.to_status.value for event in job.events]


def test_the_lifecycle_of_a_job(store: SqlJobStore) -> None:
    job = _job(store)

    assert store.load(job.id).status == "queued"
    assert store.start(job.id) and store.start(job.id)  # a second slice joins
    assert store.begin_finalizing(job.id)
    assert not store.begin_finalizing(job.id)  # exactly one finalize
    assert not store.start(job.id)
    store.succeed(job.id, {"best": {"number": 1}, "score": math.nan}, None)
    store.fail(job.id, "too late")  # a final job stays as it is

    status, events = _status(store, job.id)
    assert status == "succeeded"
    assert events == ["queued", "running", "finalizing", "succeeded"]
    with store.database.session() as session:
        done = session.get(Job, job.id)
        assert done is not None and done.result == {"best": {"number": 1}, "score": None}
        assert done.finished_at is not None and done.error is None


def test_success_replaces_the_best_proxy_score_by_the_best_candidates_final_score(
    store: SqlJobStore,
) -> None:
    job = _job(store, JobStatus.RUNNING)
    store.record_progress(job.id, trials_done=4, trials_failed=0, best_score=0.85, eta_s=None)
    assert store.begin_finalizing(job.id)
    store.succeed(job.id, {"best": {"number": 2, "accuracy": 0.917, "proxy_score": 0.8}}, None)

    with store.database.session() as session:
        done = session.get(Job, job.id)
        assert done is not None and done.best_score == pytest.approx(0.917)


def test_fail_cancel_and_requeue(store: SqlJobStore) -> None:
    failed, cancelled, requeued = (_job(store, JobStatus.RUNNING) for _ in range(3))

    store.fail(failed.id, "out of memory: lower finetune.batch_size")
    store.mark_cancelled(cancelled.id)
    store.requeue(requeued.id, "runner vanished; restarted")

    assert _status(store, failed.id)[0] == "failed"
    assert _status(store, cancelled.id)[0] == "cancelled"
    assert _status(store, requeued.id)[1][-1] == "queued"
    assert store.start(requeued.id)
    with store.database.session() as session:
        row = session.get(Job, failed.id)
        assert row is not None and row.error == "out of memory: lower finetune.batch_size"


def test_racing_slices_finalize_once(store: SqlJobStore) -> None:
    job = _job(store, JobStatus.RUNNING)

    with ThreadPoolExecutor(4) as pool:
        won = list(pool.map(lambda _: store.begin_finalizing(job.id), range(4)))

    assert sorted(won) == [False, False, False, True]
    assert _status(store, job.id)[1].count("finalizing") == 1


def test_cancel_flag_progress_and_staleness(store: SqlJobStore) -> None:
    job = _job(store, JobStatus.RUNNING)
    with store.database.session() as session:
        row = session.get(Job, job.id)
        assert row is not None
        row.cancel_requested = True

    store.record_progress(job.id, trials_done=3, trials_failed=1, best_score=0.7, eta_s=12.0)

    assert store.cancel_requested(job.id)
    assert job.id in store.stale_jobs(0.0)
    assert job.id not in store.stale_jobs(3600.0)
    with store.database.session() as session:
        row = session.get(Job, job.id)
        assert row is not None
        assert (row.trials_done, row.trials_failed, row.best_score) == (3, 1, 0.7)


def test_candidates_are_upserted_by_number(store: SqlJobStore) -> None:
    job = _job(store, JobStatus.RUNNING)
    first = {"number": 0, "kind": "uniform", "state": "complete", "ratios": {"a": 0.5}}
    store.record_candidates(
        job.id, _candidates(first, {"number": 1, "kind": "search", "state": "running"})
    )

    store.record_candidates(
        job.id,
        _candidates(
            {**first, "accuracy": 0.9, "pareto": True, "future_field": 1},
            {"number": 1, "kind": "search", "state": "complete", "proxy_score": math.inf},
        ),
    )

    with store.database.session() as session:
        rows = {c.number: c for c in session.query(Candidate).filter_by(job_id=job.id)}
    assert set(rows) == {0, 1}
    assert (rows[0].accuracy, rows[0].pareto, rows[0].ratios) == (0.9, True, {"a": 0.5})
    assert (rows[1].state, rows[1].proxy_score) == ("complete", None)


def test_artifacts_are_owner_scoped(store: SqlJobStore, tmp_path: Path) -> None:
    folder = tmp_path / "bundle"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"weights")
    (folder / "policy.json").write_text("{}")
    job = _job(store, JobStatus.FINALIZING, owner="carol")

    artifact_id = store.store_bundle(job.id, folder)

    path = store.artifact_path("carol", artifact_id)
    assert sorted(zipfile.ZipFile(path).namelist()) == ["model.safetensors", "policy.json"]
    with store.database.session() as session:
        row = session.get(Artifact, artifact_id)
        assert row is not None and (row.kind, row.owner) == (ArtifactKind.BUNDLE, "carol")
    with pytest.raises(KeyError):
        store.artifact_path("mallory", artifact_id)
    with pytest.raises(KeyError):
        store.artifact_path("carol", "0" * 32)


def test_unknown_jobs_raise_key_error(store: SqlJobStore) -> None:
    job = _job(store)
    assert store.reference_path(job.id).parent == store.artifacts.root / "references"
    for call in (
        lambda: store.load("missing"),
        lambda: store.start("missing"),
        lambda: store.reference_path("missing"),
        lambda: store.record_reference("missing", {}),
        lambda: store.record_candidates(
            "missing", _candidates({"number": 0, "kind": "search", "state": "x"})
        ),
    ):
        with pytest.raises(KeyError):
            call()


def test_progress_from_parallel_slices_never_goes_backwards(store: SqlJobStore) -> None:
    job = _job(store, JobStatus.RUNNING)
    store.record_progress(job.id, trials_done=5, trials_failed=1, best_score=0.8, eta_s=None)
    # A slower slice reports what it saw earlier.
    store.record_progress(job.id, trials_done=3, trials_failed=0, best_score=0.6, eta_s=None)
    store.record_progress(job.id, trials_done=4, trials_failed=0, best_score=None, eta_s=None)
    with store.database.session() as session:
        row = session.get(Job, job.id)
        assert row is not None
        assert (row.trials_done, row.trials_failed, row.best_score) == (5, 1, 0.8)
    store.record_progress(job.id, trials_done=6, trials_failed=2, best_score=0.9, eta_s=None)
    with store.database.session() as session:
        row = session.get(Job, job.id)
        assert row is not None
        assert (row.trials_done, row.trials_failed, row.best_score) == (6, 2, 0.9)


def test_exactly_one_caller_begins_running_a_queued_job(store: SqlJobStore) -> None:
    job = _job(store)

    with ThreadPoolExecutor(4) as pool:
        won = list(pool.map(lambda _: store.begin_running(job.id), range(4)))

    assert sorted(won) == [False, False, False, True]
    assert store.load(job.id).status == "running"
    assert not store.load(job.id).prepared
    store.record_reference(job.id, {"params": 10})
    assert store.load(job.id).prepared
    with pytest.raises(KeyError):
        store.begin_running("missing")


def test_every_job_not_yet_final_can_go_stale_and_a_beat_freshens_it(store: SqlJobStore) -> None:
    jobs = {status: _job(store, status) for status in JobStatus}

    stale = set(store.stale_jobs(0.0))
    not_final = {job.id for status, job in jobs.items() if not status.is_final}
    assert not_final <= stale
    assert not stale & {job.id for status, job in jobs.items() if status.is_final}

    queued = jobs[JobStatus.QUEUED].id
    an_hour_ago = utcnow() - timedelta(hours=1)
    store._update(queued, updated_at=an_hour_ago)  # queued an hour ago, its message lost
    assert queued in store.stale_jobs(60.0)
    store.beat(queued)
    assert queued not in store.stale_jobs(60.0)
    with pytest.raises(KeyError):
        store.beat("missing")


def test_ended_jobs_are_those_that_became_final_lately(store: SqlJobStore) -> None:
    running, ended = _job(store, JobStatus.RUNNING), _job(store, JobStatus.RUNNING)
    store.fail(ended.id, "gave up")

    recent = store.ended_jobs(3600.0)

    assert ended.id in recent and running.id not in recent
    assert ended.id not in store.ended_jobs(0.0)


def test_the_sweeper_removes_stale_temporary_files_and_keeps_fresh_ones(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    migrate(url)
    database = Database(url)
    store = SqlJobStore(database, ArtifactStore(tmp_path / "store"))
    temp = store.artifacts.root / ".tmp"
    stale, fresh = temp / "upload-crashed", temp / "upload-recent"
    for path in (stale, fresh):
        path.write_bytes(b"half")
    old = time.time() - STALE_TEMP_AFTER_S - 60
    os.utime(stale, (old, old))
    recent = time.time() - STALE_TEMP_AFTER_S + 600  # under the threshold by ten minutes
    os.utime(fresh, (recent, recent))
    try:
        assert sweep(store, RecordingDispatcher(), WorkerOptions()) == []
    finally:
        database.dispose()
    assert not stale.exists()
    assert fresh.exists()


def _reference_rows(store: SqlJobStore, job_id: str) -> tuple[str | None, list[Artifact]]:
    with store.database.session() as session:
        job = session.get(Job, job_id)
        assert job is not None
        rows = session.query(Artifact).filter(Artifact.kind == ArtifactKind.REFERENCE).all()
        return job.reference_artifact_id, [row for row in rows if row.owner == job.owner]


@pytest.mark.parametrize("end", ["succeed", "fail", "mark_cancelled"])
def test_reference_weights_are_an_artifact_of_the_job_until_it_ends(
    store: SqlJobStore, end: str
) -> None:
    job = _job(store, JobStatus.RUNNING, owner=f"ref-{end}")
    scratch = store.reference_path(job.id)  # where the search writes what it trained
    scratch.parent.mkdir(parents=True, exist_ok=True)
    scratch.write_bytes(b"trained weights")

    store.record_reference(job.id, {"params": 10})

    kept, rows = _reference_rows(store, job.id)
    assert kept is not None and [row.id for row in rows] == [kept]
    assert rows[0].sha256 == hashlib.sha256(b"trained weights").hexdigest()
    assert store.reference_path(job.id) == store.artifacts.path(kept)  # later tasks read it
    assert store.reference_path(job.id).read_bytes() == b"trained weights"
    assert not scratch.exists()

    if end == "succeed":
        assert store.begin_finalizing(job.id)
        store.succeed(job.id, {"best": None}, None)
    else:
        getattr(store, end)(job.id, *(["gave up"] if end == "fail" else []))

    assert _reference_rows(store, job.id) == (None, [])
    with pytest.raises(NotFound):
        store.artifacts.path(kept)


def test_a_job_given_weights_keeps_no_reference_artifact(store: SqlJobStore) -> None:
    job = _job(store, JobStatus.RUNNING, owner="ref-uploaded")
    store.record_reference(job.id, {"params": 10})  # nothing written: the spec had weights
    assert _reference_rows(store, job.id) == (None, [])
    store.fail(job.id, "done")


def _candidates(*values: dict[str, Any]) -> list[SearchCandidate]:
    """Candidates as the search hands them over (a key it does not know is dropped)."""
    return [SearchCandidate.from_dict(v) for v in values]


def test_the_runner_s_eta_is_stored_and_shown_as_it_is(store: SqlJobStore) -> None:
    job = _job(store, JobStatus.RUNNING)
    store.record_progress(job.id, trials_done=2, trials_failed=0, best_score=0.5, eta_s=40.0)
    store.record_progress(job.id, trials_done=3, trials_failed=0, best_score=0.5, eta_s=math.nan)
    store.record_progress(job.id, trials_done=3, trials_failed=0, best_score=0.5, eta_s=25.0)

    with store.database.session() as session:
        row = session.get(Job, job.id)
        assert row is not None and row.eta_s == 25.0
        assert ProgressOut.of(row).eta_s == 25.0  # no second estimate of the API's own
        row.trials_done = row.trials_planned  # screening done: no ETA to show
        assert ProgressOut.of(row).eta_s is None
