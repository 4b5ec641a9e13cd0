"""Fair scheduling with real Celery workers on Redis and PostgreSQL: slices of several jobs
take turns (a short job submitted after a long one finishes first), an owner's jobs beyond
its running limit wait queued and start as the running ones end, its queue is bounded (429),
trials per job are capped (422), and a job's parallelism caps its trials in flight however
many of its slices the broker hands out.

The order is read from the database (slice records, job events, trial start and end), never
from timings: what these tests assert holds on a slow machine too."""

from __future__ import annotations

import dataclasses
import itertools
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from service.settings import normalize_database_url
from tests.integration.jobs import FINAL, Study, get_job, watch_job
from tests.integration.processes import Api, Stack, WorkerPool, start_api
from workers import RUN_SLICE, CeleryDispatcher, WorkerOptions, make_celery

QUEUED_LIMIT = 2
MAX_TRIALS = 400
FAIR_ENV = {
    "PRUNESEARCH_MAX_RUNNING_JOBS_PER_OWNER": "1",
    "PRUNESEARCH_MAX_QUEUED_JOBS_PER_OWNER": str(QUEUED_LIMIT),
    "PRUNESEARCH_MAX_TRIALS": str(MAX_TRIALS),
    "PRUNESEARCH_SLICE_TRIALS": "2",
}
JOB_TIMEOUT_S = 300.0


def fair_spec(name: str, n_trials: int, parallelism: int = 1) -> dict[str, Any]:
    """An MLP on digits with no fine-tune at all: a trial is a prune and a calibration."""
    return {
        "name": name,
        "model": {"zoo": "mlp", "kwargs": {"hidden": [32]}, "pretrain_epochs": 1},
        "data": {"source": "digits", "val_fraction": 0.1, "seed": 0},
        "budget": {"max_macs": 0.6},
        "search": {
            "n_trials": n_trials,
            "parallelism": parallelism,
            "seed": 0,
            "search_split": 200,
            "calibration_batches": 1,
        },
        "finetune": {"rungs": 0, "final_epochs": 0, "finalists": 1},
    }


@pytest.fixture(scope="module")
def fair_stack(stack: Stack) -> Stack:
    return dataclasses.replace(stack, env={**stack.env, **FAIR_ENV})


@pytest.fixture(scope="module")
def fair_api(fair_stack: Stack) -> Iterator[Api]:
    with start_api(fair_stack, name="api-fair") as server:
        yield server


@pytest.fixture
def workers(fair_stack: Stack) -> Iterator[WorkerPool]:
    pool = WorkerPool(fair_stack, label=f"f{uuid.uuid4().hex[:6]}")
    yield pool
    pool.close()


def submit(api: Api, headers: dict[str, str], body: dict[str, Any]) -> httpx.Response:
    return api.client.post("/v1/jobs", headers=headers, json=body)


def submitted(api: Api, headers: dict[str, str], body: dict[str, Any]) -> str:
    response = submit(api, headers, body)
    assert response.status_code == 202, response.text
    job_id: str = response.json()["id"]
    return job_id


def finish(api: Api, headers: dict[str, str], job_id: str, pool: WorkerPool) -> dict[str, Any]:
    return watch_job(api.client, headers, job_id, timeout=JOB_TIMEOUT_S, details=pool.tails).last


def event_at(job: dict[str, Any], status: str) -> datetime:
    return datetime.fromisoformat(next(e["at"] for e in job["events"] if e["to_status"] == status))


def test_an_owners_jobs_beyond_its_limits_wait_or_are_refused(
    fair_api: Api, workers: WorkerPool, make_key: Any
) -> None:
    carol = make_key(f"carol-{uuid.uuid4().hex[:6]}")
    over = submit(fair_api, carol, fair_spec("over", MAX_TRIALS + 1))
    assert over.status_code == 422, over.text
    assert over.json()["field"] == "search.n_trials"
    assert "PRUNESEARCH_MAX_TRIALS" in over.json()["detail"]

    # No worker yet: both jobs stay queued, and the queue is full.
    first = submitted(fair_api, {**carol, "Idempotency-Key": "first"}, fair_spec("first", 4))
    second = submitted(fair_api, carol, fair_spec("second", 4))
    refused = submit(fair_api, carol, fair_spec("third", 4))
    assert refused.status_code == 429, refused.text
    assert int(refused.headers["Retry-After"]) > 0
    assert f"you have {QUEUED_LIMIT} jobs queued" in refused.json()["detail"]
    assert "PRUNESEARCH_MAX_QUEUED_JOBS_PER_OWNER" in refused.json()["detail"]
    replay = submit(fair_api, {**carol, "Idempotency-Key": "first"}, fair_spec("first", 4))
    assert (replay.status_code, replay.json()["id"]) == (200, first)

    workers.start(1)
    done_second = finish(fair_api, carol, second, workers)
    done_first = get_job(fair_api.client, carol, first)

    assert (done_first["status"], done_second["status"]) == ("succeeded", "succeeded")
    # One running job at a time: the second started only once the first had ended.
    assert event_at(done_second, "running") >= event_at(done_first, "succeeded")


def test_a_short_job_submitted_after_a_long_one_finishes_first(
    fair_api: Api, workers: WorkerPool, make_key: Any, postgres_url: str
) -> None:
    workers.start(1)
    alice = make_key(f"alice-{uuid.uuid4().hex[:6]}")
    bob = make_key(f"bob-{uuid.uuid4().hex[:6]}")
    long_id = submitted(fair_api, alice, fair_spec("long", MAX_TRIALS))
    watch_job(
        fair_api.client,
        alice,
        long_id,
        until=lambda job: job["progress"]["trials_done"] >= 2 or job["status"] in FINAL,
        timeout=JOB_TIMEOUT_S,
        what="the long job's first slices",
        details=workers.tails,
    )
    short_id = submitted(fair_api, bob, fair_spec("short", 10))

    short = finish(fair_api, bob, short_id, workers)
    long = get_job(fair_api.client, alice, long_id)

    assert short["status"] == "succeeded", short["error"]
    assert long["status"] == "running"
    assert long["progress"]["trials_done"] < MAX_TRIALS
    # While the short job ran, the two took turns: never two slices of the long job in a
    # row between the short job's first and last slice.
    order = slice_order(postgres_url, (long_id, short_id))
    between = order[order.index(short_id) : len(order) - order[::-1].index(short_id)]
    assert all(not (a == b == long_id) for a, b in itertools.pairwise(between)), between

    assert fair_api.client.delete(f"/v1/jobs/{long_id}", headers=alice).status_code == 202
    assert finish(fair_api, alice, long_id, workers)["status"] == "cancelled"


def test_a_jobs_parallelism_caps_its_trials_in_flight(
    fair_api: Api, workers: WorkerPool, make_key: Any, postgres_url: str, redis_url: str
) -> None:
    workers.start(2)
    dave = make_key(f"dave-{uuid.uuid4().hex[:6]}")
    job_id = submitted(fair_api, dave, fair_spec("capped", 16, parallelism=1))
    watch_job(
        fair_api.client,
        dave,
        job_id,
        until=lambda job: job["progress"]["trials_done"] >= 1 or job["status"] in FINAL,
        timeout=JOB_TIMEOUT_S,
        what="the job's first trial",
        details=workers.tails,
    )
    # Two more slices of the job than its parallelism allows (a redelivery, a sweeper's
    # restart): the second worker takes them while the first runs the job's own chain.
    dispatcher = CeleryDispatcher(make_celery(WorkerOptions(broker_url=redis_url)))
    for _ in range(2):
        dispatcher.enqueue(RUN_SLICE, job_id)

    job = finish(fair_api, dave, job_id, workers)

    assert job["status"] == "succeeded", job["error"]
    study = Study(postgres_url)
    try:
        trials = study.trials(job["study_name"])
    finally:
        study.close()
    assert len(trials) >= 16
    assert most_at_once(trials) == 1


def most_at_once(trials: list[Any]) -> int:
    """The most trials running at one moment, from their recorded start and end."""
    edges = []
    for trial in trials:
        if trial.start is not None and trial.complete is not None:
            edges += [(trial.start, 1), (trial.complete, -1)]
    running = most = 0
    for _, step in sorted(edges, key=lambda edge: (edge[0], edge[1])):  # an end before a start
        running += step
        most = max(most, running)
    return most


def slice_order(database_url: str, job_ids: tuple[str, ...]) -> list[str]:
    """The jobs of the slices the workers recorded, in the order they started."""
    engine = create_engine(normalize_database_url(database_url))
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT job_id FROM ps_slices WHERE job_id = ANY(:ids) ORDER BY started_at"),
                {"ids": list(job_ids)},
            )
            return [row[0] for row in rows]
    finally:
        engine.dispose()
