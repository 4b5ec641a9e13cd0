"""/metrics: histograms, heartbeats and queue depth, read from the database and the broker
at scrape time (SQLite and PostgreSQL; real Redis)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from sqlalchemy import select, update

from search import Candidate
from service.api.metrics import (
    SLICE_BUCKETS,
    TRIAL_BUCKETS,
    QueueCollector,
    make_registry,
)
from service.app import create_app
from service.artifacts import ArtifactStore
from service.db import Database, migrate
from service.jobs import SqlJobStore
from service.models import JobStatus, WorkerProcess
from service.settings import Settings
from tests.service.factories import make_job
from workers import CeleryDispatcher, EmbeddedDispatcher, WorkerBeat, WorkerOptions, make_celery
from workers._heartbeat import Heartbeat, Identity

REDIS_URL = "redis://127.0.0.1:6379/12"
# Nothing listens on port 1: connections are refused at once.
DEAD_BROKER = "redis://127.0.0.1:1/0"


@pytest.fixture
def store(migrated_url: str, tmp_path: Path) -> Iterator[SqlJobStore]:
    database = Database(migrated_url)
    yield SqlJobStore(database, ArtifactStore(tmp_path / "store"))
    database.dispose()


def _job(store: SqlJobStore) -> str:
    with store.database.session() as session:
        return make_job(session, "alice", status=JobStatus.RUNNING).id


def _scrape(store: SqlJobStore, **kwargs: Any) -> dict[str, list[Sample]]:
    """Samples by family name, from a fresh registry over ``store``'s database."""
    text = generate_latest(make_registry(store.database, **kwargs)).decode()
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def _histogram(samples: list[Sample], **labels: str) -> tuple[dict[str, float], float, float]:
    """(buckets by ``le``, _count, _sum) of the series with ``labels``."""
    mine = [s for s in samples if all(s.labels.get(k) == v for k, v in labels.items())]
    buckets = {s.labels["le"]: s.value for s in mine if s.name.endswith("_bucket")}
    count = next(s.value for s in mine if s.name.endswith("_count"))
    total = next(s.value for s in mine if s.name.endswith("_sum"))
    return buckets, count, total


def _assert_cumulative(buckets: dict[str, float], count: float) -> None:
    values = list(buckets.values())
    assert values == sorted(values), buckets
    assert buckets["+Inf"] == count


def test_trial_and_final_durations_are_histograms_by_kind(store: SqlJobStore) -> None:
    job_id = _job(store)
    edge = TRIAL_BUCKETS[2]  # 2.5 s exactly: counted in le="2.5" (upper bounds are inclusive)
    trials = [  # (kind, prune_s, proxy_s, final_s)
        ("uniform", 0.5, edge - 0.5, 40.0),
        ("global", 0.1, 0.2, None),
        ("search", 0.2, 0.1, None),
        ("search", 1.0, 4.0, 61.0),
        ("search", 10.0, 5000.0, None),
    ]
    store.record_candidates(
        job_id,
        [
            Candidate(
                number=number,
                kind=kind,
                state="complete",
                timings={"prune_s": prune, "proxy_s": proxy}
                | ({} if final is None else {"final_s": final}),
            )
            for number, (kind, prune, proxy, final) in enumerate(trials)
        ]
        + [Candidate(number=99, kind="search", state="running", timings={})],  # no timing
    )

    families = _scrape(store)

    samples = families["prunesearch_trial_duration_seconds"]
    search, count, total = _histogram(samples, kind="search")
    _assert_cumulative(search, count)
    assert count == 3  # the candidate without timings is not a trial duration
    assert total == pytest.approx(0.3 + 5.0 + 5010.0)
    assert search["0.5"] == 1 and search["5.0"] == 2 and search["1800.0"] == 2
    uniform, count, total = _histogram(samples, kind="uniform")
    assert count == 1 and total == pytest.approx(edge)
    assert uniform["2.5"] == 1 and uniform["1.0"] == 0
    assert sum(s.value for s in samples if s.name.endswith("_count")) == len(trials)

    finals = families["prunesearch_final_duration_seconds"]
    search, count, total = _histogram(finals, kind="search")
    assert count == 1 and total == pytest.approx(61.0)
    assert search["60.0"] == 0 and search["120.0"] == 1
    assert {s.labels["kind"] for s in finals} == {"search", "uniform"}


def test_a_final_fine_tune_updates_the_trial_row(store: SqlJobStore) -> None:
    job_id = _job(store)
    timings = {"prune_s": 1.0, "proxy_s": 2.0}
    store.record_candidates(job_id, [Candidate(0, "search", "complete", timings=timings)])
    store.record_candidates(
        job_id, [Candidate(0, "search", "complete", timings={**timings, "final_s": 7.0})]
    )

    families = _scrape(store)

    _, trial_count, trial_sum = _histogram(families["prunesearch_trial_duration_seconds"])
    _, final_count, final_sum = _histogram(families["prunesearch_final_duration_seconds"])
    assert trial_count == 1 and trial_sum == pytest.approx(3.0)
    assert final_count == 1 and final_sum == pytest.approx(7.0)


def test_slices_are_a_histogram_of_seconds_and_of_trials(store: SqlJobStore) -> None:
    job_id = _job(store)
    start = datetime.now(UTC)
    seconds = [0.4, SLICE_BUCKETS[1], 42.0, 4000.0]  # 5.0 s exactly lands in le="5.0"
    for i, value in enumerate(seconds):
        store.record_slice(job_id, worker="w1@host", started_at=start, seconds=value, trials=i)

    families = _scrape(store)

    buckets, count, total = _histogram(families["prunesearch_slice_duration_seconds"])
    _assert_cumulative(buckets, count)
    assert count == len(seconds)
    assert total == pytest.approx(sum(seconds))
    assert buckets["1.0"] == 1 and buckets["5.0"] == 2 and buckets["60.0"] == 3
    assert buckets["1800.0"] == 3
    trials, count, total = _histogram(families["prunesearch_slice_trials"])
    assert count == 4 and total == 0 + 1 + 2 + 3
    assert trials["0.0"] == 1 and trials["2.0"] == 3


def test_an_empty_database_reports_empty_histograms(store: SqlJobStore) -> None:
    families = _scrape(store)

    buckets, count, total = _histogram(families["prunesearch_slice_duration_seconds"])
    assert count == 0 and total == 0 and set(buckets.values()) == {0}
    assert families["prunesearch_trial_duration_seconds"] == []
    assert families["prunesearch_workers_alive"][0].value == 0


def test_a_slice_of_an_unknown_job_is_a_key_error(store: SqlJobStore) -> None:
    with pytest.raises(KeyError):
        store.record_slice("nope", worker="w", started_at=datetime.now(UTC), seconds=1, trials=1)


def _beat(worker: str, process: int = 0, tasks: int = 0) -> WorkerBeat:
    return WorkerBeat(
        worker=worker,
        process=process,
        hostname="host",
        pid=1234,
        queues=("cpu",),
        started_at=datetime.now(UTC),
        tasks_done=tasks,
        slices_done=tasks // 2,
    )


def test_heartbeats_of_a_real_heartbeat_thread(store: SqlJobStore) -> None:
    beats = threading.Event()

    class Counting(SqlJobStore):
        def record_heartbeat(self, beat: WorkerBeat) -> None:
            super().record_heartbeat(beat)
            if heartbeat.beats >= 1:  # this is the second beat or later
                beats.set()

    counting = Counting(store.database, store.artifacts)
    heartbeat = Heartbeat(lambda: counting, Identity("w1@test", 2, ("cpu",)), interval_s=0.05)
    before = datetime.now(UTC).timestamp()
    heartbeat.start()
    try:
        assert beats.wait(timeout=30), "the heartbeat thread did not beat twice"
    finally:
        heartbeat.stop()
    with store.database.session() as session:
        row = session.get(WorkerProcess, ("w1@test", 2))
        assert row is not None
        assert row.queues == ["cpu"] and row.pid > 0

    families = _scrape(store, heartbeat_s=60.0)

    seen = families["prunesearch_worker_last_heartbeat_timestamp_seconds"]
    assert [(s.labels, s.value >= before - 1) for s in seen] == [
        ({"worker": "w1@test", "process": "2"}, True)
    ]
    assert families["prunesearch_workers_alive"][0].value == 1


def test_workers_alive_counts_recent_heartbeats_only(store: SqlJobStore) -> None:
    store.record_heartbeat(_beat("w1@a", tasks=4))
    store.record_heartbeat(_beat("w1@a", tasks=6))  # the same process again: one row
    store.record_heartbeat(_beat("w2@b", process=1))
    store.record_heartbeat(_beat("w3@gone"))
    with store.database.session() as session:
        session.execute(
            update(WorkerProcess)
            .where(WorkerProcess.worker == "w2@b")
            .values(last_seen=datetime.now(UTC) - timedelta(seconds=100))
        )
        session.execute(
            update(WorkerProcess)
            .where(WorkerProcess.worker == "w3@gone")
            .values(last_seen=datetime.now(UTC) - timedelta(days=3))
        )

    families = _scrape(store, heartbeat_s=10.0)  # alive: seen within 30 s

    assert families["prunesearch_workers_alive"][0].value == 1
    seen = {
        s.labels["worker"] for s in families["prunesearch_worker_last_heartbeat_timestamp_seconds"]
    }
    assert seen == {"w1@a", "w2@b"}  # a worker gone for days is forgotten
    tasks = {s.labels["worker"]: s.value for s in families["prunesearch_worker_tasks"]}
    assert tasks == {"w1@a": 6, "w2@b": 0}
    slices = {s.labels["worker"]: s.value for s in families["prunesearch_worker_slices"]}
    assert slices == {"w1@a": 3, "w2@b": 0}


# -- queue depth --


@pytest.fixture
def broker() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis is not reachable at {REDIS_URL}: {exc}")
    yield client
    client.close()


def test_queue_depth_is_the_length_of_the_brokers_lists(broker: redis.Redis) -> None:
    # Queue names of this test's own, in lists named as kombu's Redis transport names them.
    cpu, cuda = (f"ps-test-{uuid.uuid4().hex[:8]}-{kind}" for kind in ("cpu", "cuda"))
    try:
        broker.rpush(cpu, "a", "b", "c")
        broker.rpush(f"{cpu}\x06\x169", "prioritised")
        # The workers know how kombu lays the lists out; the collector asks the dispatcher.
        app = make_celery(WorkerOptions(broker_url=REDIS_URL))
        dispatcher = CeleryDispatcher(app, queues=(cpu, cuda))
        collector = QueueCollector(broker_url=REDIS_URL, dispatcher=dispatcher)

        samples = [sample for family in collector.collect() for sample in family.samples]
        depths = {
            s.labels["queue"]: s.value for s in samples if s.name == "prunesearch_queue_depth"
        }
    finally:
        broker.delete(cpu, f"{cpu}\x06\x169")
    assert depths == {cpu: 4, cuda: 0}
    assert [s.value for s in samples if s.name == "prunesearch_broker_up"] == [1]


@contextmanager
def _celery_app(tmp_path: Path, broker_url: str) -> Iterator[TestClient]:
    """The app as a Celery deployment runs it: its own CeleryDispatcher, on ``broker_url``."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    migrate(url)
    settings = Settings(database_url=url, artifact_dir=tmp_path / "store", broker_url=broker_url)
    with TestClient(create_app(settings)) as client:
        yield client


def test_a_broker_that_is_down_costs_the_depth_not_the_scrape(tmp_path: Path) -> None:
    with _celery_app(tmp_path, DEAD_BROKER) as client:
        response = client.get("/metrics")

    assert response.status_code == 200
    assert "prunesearch_broker_up 0.0" in response.text
    assert "prunesearch_queue_depth{" not in response.text
    assert "prunesearch_database_up 1.0" in response.text


def test_celery_mode_reads_the_depth_of_the_cpu_and_cuda_queues(tmp_path: Path) -> None:
    with _celery_app(tmp_path, REDIS_URL) as client:
        text = client.get("/metrics").text

    assert "prunesearch_broker_up 1.0" in text
    assert 'prunesearch_queue_depth{queue="cpu"}' in text
    assert 'prunesearch_queue_depth{queue="cuda"}' in text


def test_embedded_mode_reports_its_own_pool(tmp_path: Path, migrated_url: str) -> None:
    settings = Settings(database_url=migrated_url, artifact_dir=tmp_path / "store", auth=False)
    database = Database(migrated_url)
    dispatcher = EmbeddedDispatcher(
        SqlJobStore(database, ArtifactStore(tmp_path / "store")),
        WorkerOptions(worker_heartbeat_s=60.0),
        sweep_every_s=None,
    )
    try:
        with TestClient(create_app(settings, dispatcher=dispatcher)) as client:
            _wait_for_a_heartbeat(database)
            text = client.get("/metrics").text
    finally:
        dispatcher.shutdown()
        database.dispose()

    assert 'prunesearch_queue_depth{queue="cpu"} 0.0' in text
    assert "prunesearch_broker_up" not in text
    # The API's pool is a worker too: its heartbeat is recorded when it starts.
    assert (
        'prunesearch_worker_last_heartbeat_timestamp_seconds{process="0",worker="embedded@' in text
    )
    assert "prunesearch_workers_alive 1.0" in text


def _wait_for_a_heartbeat(database: Database, timeout_s: float = 30.0) -> None:
    """The pool's heartbeat thread records its first beat as it starts (asynchronously)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with database.session() as session:
            if session.scalars(select(WorkerProcess)).first() is not None:
                return
        time.sleep(0.05)
    pytest.fail(f"no worker heartbeat recorded within {timeout_s:.0f} s")
