"""Faults injected into a real deployment in the middle of a job (tests/chaos/cluster.py:
its own PostgreSQL and Redis, the API, two workers, the sweeper), one test per fault.

Each test asserts what a user expects (tests/chaos/checks.py): the job ends as it should
within a bound, nothing finished before the fault changes or vanishes, every stored
artifact is whole and the bundle loads, no trial is left RUNNING, and a job that succeeded
did exactly the trials it planned.
"""

from __future__ import annotations

import json
import re
import signal
import time

import pytest
import redis

from tests.chaos.checks import (
    JOB_BOUND_S,
    Job,
    chaos_spec,
    check_after,
    submit,
    wait_finalizing,
    wait_mid_rung,
)
from tests.chaos.cluster import MAX_PARALLELISM, RECOVERY_S, Cluster, terminate
from tests.integration.jobs import Study
from tests.integration.processes import Process, wait_for

pytestmark = pytest.mark.chaos

Headers = dict[str, str]


def test_worker_sigkill_mid_rung(healed: Cluster, headers: Headers) -> None:
    job = submit(healed, headers, chaos_spec("chaos-sigkill"))
    killed = wait_mid_rung(job)
    killed.worker.kill_group(signal.SIGKILL)

    check_after(job, expect="succeeded", before=killed.before)
    # The item was taken over once its claim went stale, and finished by another worker.
    attrs = _attrs(job)
    assert f"rung:1:{killed.number}" in attrs, job.describe()
    others = [w for w in healed.workers if w is not killed.worker]
    finished = rf"\[job={job.id} trial=\d+\]: rung-1 of trial {killed.number} finished"
    assert any(re.search(finished, w.log_text()) for w in others), job.describe()


def test_worker_sigterm_mid_rung(healed: Cluster, headers: Headers) -> None:
    job = submit(healed, headers, chaos_spec("chaos-sigterm"))
    stopped = wait_mid_rung(job)
    terminate(stopped.worker)  # a warm shutdown: the slice in flight ends, then the worker

    check_after(job, expect="succeeded", before=stopped.before)
    wait_for(lambda: not stopped.worker.alive(), timeout=60, what="the worker to stop")
    assert stopped.worker.popen.returncode == 0, stopped.worker.tail()
    # Its item was finished by the worker that was stopped, before it stopped.
    finished = rf"\[job={job.id} trial=\d+\]: rung-1 of trial {stopped.number} finished"
    assert re.search(finished, stopped.worker.log_text()), job.describe()
    assert f"rung:1:{stopped.number}" in _attrs(job)


def test_worker_sigkill_during_finalize(healed: Cluster, headers: Headers) -> None:
    job = submit(healed, headers, chaos_spec("chaos-finalize-kill", finetune={"final_epochs": 6}))
    victim, before = wait_finalizing(job)
    victim.kill_group(signal.SIGKILL)

    check_after(job, expect="succeeded", before=before)


def test_worker_killed_while_writing_bundle(healed: Cluster, headers: Headers) -> None:
    job = submit(healed, headers, chaos_spec("chaos-bundle-kill"))

    def writing_bundle() -> Process | None:
        # The bundle is written into the worker's temp folder, then zipped into the store.
        for worker in healed.workers:
            if any(healed.worker_tmp(worker).glob("prunesearch-bundle-*/best/*")):
                return worker
        return None

    victim: Process = wait_for(
        writing_bundle,
        timeout=JOB_BOUND_S,
        interval=0.02,
        what="a worker writing the bundle",
        on_timeout=job.describe,
    )
    before = job.finished()
    victim.kill_group(signal.SIGKILL)

    check_after(job, expect="succeeded", before=before)


def test_redis_restart_mid_search(healed: Cluster, headers: Headers) -> None:
    job = submit(healed, headers, chaos_spec("chaos-redis-restart"))
    before = wait_mid_rung(job).before
    healed.redis.stop(signal.SIGTERM)  # a clean restart: the append-only file is kept
    time.sleep(5)
    healed.redis.start()

    check_after(job, expect="succeeded", before=before)
    assert all(w.alive() for w in healed.workers), "a worker died with the broker"


def test_redis_restart_during_finalize(healed: Cluster, headers: Headers) -> None:
    job = submit(healed, headers, chaos_spec("chaos-redis-finalize", finetune={"final_epochs": 6}))
    _, before = wait_finalizing(job)
    healed.redis.stop(signal.SIGTERM)
    time.sleep(5)
    healed.redis.start()

    check_after(job, expect="succeeded", before=before)


def test_redis_sigkill_with_aof_lost(healed: Cluster, headers: Headers) -> None:
    job = submit(healed, headers, chaos_spec("chaos-redis-lost"))
    before = wait_mid_rung(job).before
    healed.redis.stop(signal.SIGKILL)
    healed.redis.lose_data()  # every message gone: the database is all that is left
    healed.redis.start()

    check_after(job, expect="succeeded", before=before)


def test_postgres_outage_mid_search(healed: Cluster, headers: Headers) -> None:
    job = submit(healed, headers, chaos_spec("chaos-postgres-outage"))
    before = wait_mid_rung(job).before
    healed.postgres.stop("fast")
    time.sleep(45)  # longer than five retries used to last
    healed.postgres.start()

    check_after(job, expect="succeeded", before=before)


def test_api_killed_between_store_and_queue(healed: Cluster, headers: Headers) -> None:
    # What an API killed between its commit and its send leaves: the job stored, queued,
    # and no message for it. The same code as POST /v1/jobs stores it, then the API dies.
    from service.artifacts import ArtifactStore
    from service.db import Database
    from service.jobs import submit_job
    from service.settings import Settings

    assert healed.api is not None
    body = chaos_spec("chaos-api-killed")
    database = Database(healed.postgres.url)
    try:
        with database.session() as session:
            settings = Settings(database_url=healed.postgres.url)
            stored = submit_job(
                session, "chaos", body, settings=settings, artifacts=ArtifactStore(healed.root)
            ).job
            job_id, study_name = stored.id, stored.study_name
    finally:
        database.dispose()
    healed.api.kill_group(signal.SIGKILL)
    healed.api.popen.wait(timeout=30)
    healed.heal()  # the API restarts, knowing nothing of the job
    job = Job(healed, headers, job_id, study_name, body["search"]["n_trials"])

    assert job.get()["status"] == "queued"
    job.wait(lambda j: j["status"] != "queued", "the sweeper to queue it", 3 * RECOVERY_S)
    check_after(job, expect="succeeded", before={})


def test_parallelism_flood_then_delete(healed: Cluster, headers: Headers) -> None:
    job = submit(healed, headers, chaos_spec("chaos-flood", search={"parallelism": 100_000}))
    broker = redis.Redis.from_url(healed.redis.url)
    seen: list[int] = []
    try:

        def running_with_slices() -> bool:
            seen.append(_slices_queued(broker, job.id))
            return job.get()["status"] == "running" and job.get()["progress"]["trials_done"] >= 1

        wait_for(running_with_slices, timeout=JOB_BOUND_S, interval=0.1, what="slices running")
        before = job.finished()
        response = job.client.delete(f"/v1/jobs/{job.id}", headers=headers)
        assert response.status_code == 202, response.text

        # Cancelled at the next epoch of the trials in flight: seconds.
        check_after(job, expect="cancelled", before=before, within_s=RECOVERY_S)
        # Never more slices of it queued than the workers' bound, and none left.
        assert max(seen) <= MAX_PARALLELISM, seen
        wait_for(
            lambda: _slices_queued(broker, job.id) == 0,
            timeout=RECOVERY_S,
            what="no slice of the cancelled job left queued",
        )
    finally:
        broker.close()

    # The queue is free: another job runs straight away.
    other = submit(healed, headers, chaos_spec("chaos-after-flood", search={"n_trials": 3}))
    check_after(other, expect="succeeded", before={})


def test_delete_while_finalizing(healed: Cluster, headers: Headers) -> None:
    job = submit(
        healed, headers, chaos_spec("chaos-delete-finalizing", finetune={"final_epochs": 6})
    )
    _, before = wait_finalizing(job)
    response = job.client.delete(f"/v1/jobs/{job.id}", headers=headers)
    assert response.status_code == 202, response.text

    last = check_after(job, expect="cancelled", before=before, within_s=RECOVERY_S)
    assert not last["best_model_available"]  # no bundle for a job the user gave up on


def test_two_workers_on_one_host_both_counted(healed: Cluster) -> None:
    names = {healed.node_name(worker) for worker in healed.workers}
    assert len(names) == 2  # started alike, with no --hostname: one name each

    def both_alive() -> bool:
        metrics = healed.client.get("/metrics").text
        alive = re.search(r"^prunesearch_workers_alive (\S+)$", metrics, re.MULTILINE)
        labelled = set(re.findall(r'worker="([^"]+)"', metrics))
        return alive is not None and float(alive.group(1)) == 2.0 and names <= labelled

    wait_for(
        both_alive,
        timeout=30,
        what="/metrics to count both workers alive",
        on_timeout=lambda: healed.client.get("/metrics").text,
    )


# --- helpers ------------------------------------------------------------------------------


def _attrs(job: Job) -> dict[str, object]:
    """The study's user attributes: rung results and claims, finals."""
    view = Study(job.cluster.postgres.url)
    try:
        return view.attrs(job.study_name)
    finally:
        view.close()


def _slices_queued(broker: redis.Redis, job_id: str) -> int:
    """run_slice messages of the job waiting in the cpu queue (Celery's JSON envelope)."""
    count = 0
    for raw in broker.lrange("cpu", 0, -1):
        headers = json.loads(raw).get("headers", {})
        if headers.get("task") == "workers.run_slice" and job_id in str(headers.get("argsrepr")):
            count += 1
    return count
