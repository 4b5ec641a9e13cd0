"""A Celery worker killed with SIGKILL in the middle of a trial: Optuna's heartbeat fails the
trial and its retry callback queues it again, the surviving worker runs it and finishes the
job, and nothing that finished before the kill is lost or changed.

The heartbeat's grace is the service's floor of 60 s (HEARTBEAT_INTERVAL_S is 2, and the
grace is max(60, 4 x interval)). The survivor may meet the trial plan before the grace has
passed; it then waits, looking again every few seconds, because a job is not finalized while
a trial of it is RUNNING: once the killed trial is stale it is failed, and its retry runs
before the finals. The job is sized from the speed of this machine, measured just before:
trials of a few seconds, so that the kill lands mid-trial.
"""

from __future__ import annotations

import math
import re
import signal
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import text

from tests.integration.jobs import (
    Study,
    figures,
    leaderboard,
    named,
    seconds_per_proxy_epoch,
    slice_in_progress,
    spec,
    watch_job,
)
from tests.integration.processes import Api, Process, Stack, WorkerPool, wait_for

pytestmark = pytest.mark.integration

MakeKey = Callable[[str], dict[str, str]]
JOB_TIMEOUT_S = 600.0
# Sizing: trials of about TRIAL_S seconds, and after the kill about AFTER_KILL_S seconds of
# them for the one worker left (fewer than the 60 s grace: it waits for the grace to pass).
TRIAL_S = 3.5
AFTER_KILL_S = 20.0
TRIAL_OVERHEAD_S = 0.5  # pruning, measuring, BN recalibration, database writes
EPOCH_OVERHEAD_S = 0.04  # per epoch in a worker: Optuna's report, the cancel poll
KILL_AFTER_DONE = 3


def kill_job_spec() -> tuple[dict[str, Any], int]:
    samples = 1024
    epoch_s = seconds_per_proxy_epoch(samples)
    epochs = max(5, min(200, round((TRIAL_S - TRIAL_OVERHEAD_S) / (epoch_s + EPOCH_OVERHEAD_S))))
    n_trials = KILL_AFTER_DONE + 2 + math.ceil(AFTER_KILL_S / TRIAL_S)
    body = named(
        spec(
            search={"n_trials": n_trials, "parallelism": 2, "pruner": "none"},
            finetune={"proxy_epochs": epochs, "proxy_samples": samples},
        ),
        "it-kill",
    )
    return body, n_trials


@pytest.fixture
def study(stack: Stack) -> Iterator[Study]:
    view = Study(stack.database_url)
    yield view
    view.close()


def heartbeat_ages(study: Study, study_name: str) -> dict[int, float]:
    """Seconds since the last Optuna heartbeat of each RUNNING trial (database clock)."""
    with study.engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT t.number, EXTRACT(EPOCH FROM (now()::timestamp - h.heartbeat)) AS age "
                "FROM trials t JOIN studies s USING (study_id) "
                "JOIN trial_heartbeats h USING (trial_id) "
                "WHERE s.study_name = :name AND t.state = 'RUNNING'"
            ),
            {"name": study_name},
        ).all()
    return {int(row.number): float(row.age) for row in rows}


def test_worker_killed_mid_trial(
    api: Api, stack: Stack, worker_pool: WorkerPool, make_key: MakeKey, study: Study
) -> None:
    client, dave = api.client, make_key("dave")
    # Trials of a few seconds (many short epochs, no pruning), enough of them to outlast
    # the grace on one worker.
    body, n_trials = kill_job_spec()
    workers = worker_pool.start(2)
    submitted = client.post("/v1/jobs", headers=dave, json=body)
    assert submitted.status_code == 202, submitted.text
    job_id, study_name = submitted.json()["id"], submitted.json()["study_name"]

    def describe() -> str:
        return study.describe(study_name) + "\n" + stack.tails()

    # Both workers mid-trial: two trials RUNNING (one per worker, each runs one at a time),
    # both some epochs into their fine-tune and far from its end, and each worker's log shows
    # a run_slice in progress; a few candidates finished already. The candidates finished so
    # far are read first, so that they all finished before the kill.
    epochs = body["finetune"]["proxy_epochs"]

    def both_mid_trial() -> tuple[Process, dict[int, dict[str, Any]]] | None:
        job = client.get(f"/v1/jobs/{job_id}", headers=dave).json()
        if job["status"] != "running" or job["progress"]["trials_done"] < KILL_AFTER_DONE:
            return None
        board = leaderboard(client, dave, job_id)
        busy = [w for w in workers if slice_in_progress(w.log_text())]
        reported = study.epochs_reported(study_name)
        if len(busy) != 2 or len(reported) != 2:
            return None
        if not all(3 <= count <= epochs * 2 // 3 for count in reported.values()):
            return None
        return busy[-1], {c["number"]: c for c in board if c["state"] == "complete"}

    victim, before = wait_for(
        both_mid_trial,
        timeout=JOB_TIMEOUT_S,
        interval=0.2,
        what="both workers mid-trial",
        on_timeout=describe,
    )
    victim.kill_group(signal.SIGKILL)
    victim.popen.wait(timeout=30)
    survivor = next(w for w in workers if w is not victim)
    assert before, "no finished candidate before the kill"

    # The killed trial: still RUNNING, its heartbeat silent since the kill.
    def silent_trial() -> list[int]:
        return [n for n, age in heartbeat_ages(study, study_name).items() if age > 8.0]

    silent = wait_for(
        silent_trial,
        timeout=30.0,
        what="the killed worker's trial to go silent",
        on_timeout=describe,
    )
    assert len(silent) == 1, f"silent trials {silent}\n{describe()}"
    killed = silent[0]
    killed_params = next(t.params for t in study.trials(study_name) if t.number == killed)
    assert killed_params, "the killed trial had not sampled its parameters: not mid-trial"

    job = watch_job(
        client, dave, job_id, timeout=JOB_TIMEOUT_S, details=describe, interval=1.0
    ).last
    assert job["status"] == "succeeded", f"{job['error']}\n{describe()}"
    assert survivor.alive(), survivor.tail()

    # The killed trial was failed (heartbeat stale), and retried with the same parameters.
    trials = {t.number: t for t in study.trials(study_name)}
    assert trials[killed].state == "FAIL", describe()
    retries = [t for t in trials.values() if t.retried_from == killed]
    assert len(retries) == 1, f"retries of trial {killed}: {retries}\n{describe()}"
    retry = retries[0]
    assert retry.state == "COMPLETE", describe()
    assert retry.number > killed
    assert not [t.number for t in trials.values() if t.state in ("RUNNING", "WAITING")], describe()
    done = sum(t.state in ("COMPLETE", "PRUNED") for t in trials.values())
    assert done >= n_trials

    # The survivor ran the retry (Optuna's line in its log); the victim never finished it.
    assert re.search(rf"Trial {retry.number} finished", survivor.log_text()), survivor.tail()
    assert not re.search(rf"Trial {killed} (finished|pruned)", victim.log_text())

    # Nothing finished before the kill was lost or changed.
    after = {c["number"]: c for c in leaderboard(client, dave, job_id)}
    for number, candidate in before.items():
        assert number in after, f"candidate {number} lost after the kill"
        assert figures(after[number]) == figures(candidate), number
    assert after[killed]["state"] == "fail"
    assert after[retry.number]["state"] == "complete"
    assert trials[killed].params == killed_params
    assert retry.params == killed_params, "the retry is not the same trial again"
