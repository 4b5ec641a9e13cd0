"""A Celery worker killed with SIGKILL in the middle of a rung's fine-tune: its claim on the
item stops being refreshed, and once it is older than the claim's time-to-live (the trial
heartbeat grace, the service's floor of 60 s) the surviving worker takes the item over and
finishes the job; nothing that finished before the kill is lost or changed, and the trial
plan is met exactly.

Screening trials take a fraction of a second; the compute of a search is in its rungs and
finals, so that is where a kill lands. The job is sized from the speed of this machine,
measured just before: rung items of several seconds, so that the kill lands mid-item.
"""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.integration.jobs import (
    Study,
    figures,
    leaderboard,
    named,
    rung_item_in_progress,
    seconds_per_step,
    spec,
    watch_job,
)
from tests.integration.processes import Api, Process, Stack, WorkerPool, wait_for

pytestmark = pytest.mark.integration

MakeKey = Callable[[str], dict[str, str]]
JOB_TIMEOUT_S = 600.0
ITEM_S = 8.0  # one rung item's fine-tune, in this machine's seconds
N_TRIALS = 6  # three baselines and three searched candidates, all of which enter the rung


def kill_job_spec() -> dict[str, Any]:
    steps = max(50, min(5000, round(ITEM_S / seconds_per_step())))
    return named(
        spec(
            search={"n_trials": N_TRIALS, "parallelism": 2},
            finetune={"rung_candidates": 3, "rungs": 1, "rung_steps": steps},
        ),
        "it-kill",
    )


@pytest.fixture
def study(stack: Stack) -> Iterator[Study]:
    view = Study(stack.database_url)
    yield view
    view.close()


def test_worker_killed_mid_rung(
    api: Api, stack: Stack, worker_pool: WorkerPool, make_key: MakeKey, study: Study
) -> None:
    client, dave = api.client, make_key("dave")
    body = kill_job_spec()
    workers = worker_pool.start(2)
    submitted = client.post("/v1/jobs", headers=dave, json=body)
    assert submitted.status_code == 202, submitted.text
    job_id, study_name = submitted.json()["id"], submitted.json()["study_name"]

    def describe() -> str:
        return (
            study.describe(study_name)
            + f"\nattrs: {sorted(study.attrs(study_name))}\n"
            + stack.tails()
        )

    # Both workers mid-item: each log shows a rung item started and not finished, each
    # item claimed in the study with no result yet. What finished so far is read first, so
    # that it all finished before the kill.
    def both_mid_item() -> tuple[Process, int, dict[int, dict[str, Any]], dict[str, Any]] | None:
        # The logs first: the study's tables exist once a worker got that far.
        busy = [(w, rung_item_in_progress(w.log_text(), job_id)) for w in workers]
        items = [(w, n) for w, n in busy if n is not None]
        if len(items) != 2 or items[0][1] == items[1][1]:
            return None
        board = {c["number"]: c for c in leaderboard(client, dave, job_id)}
        attrs = study.attrs(study_name)
        if any(f"rung:1:{n}" in attrs or f"claim:rung:1:{n}" not in attrs for _, n in items):
            return None
        victim, number = items[-1]
        return victim, number, board, attrs

    victim, killed, before, attrs_before = wait_for(
        both_mid_item,
        timeout=JOB_TIMEOUT_S,
        interval=0.2,
        what="both workers mid-rung-item",
        on_timeout=describe,
    )
    victim.kill_group(signal.SIGKILL)
    victim.popen.wait(timeout=30)
    survivor = next(w for w in workers if w is not victim)
    killed_at = time.monotonic()

    job = watch_job(
        client, dave, job_id, timeout=JOB_TIMEOUT_S, details=describe, interval=1.0
    ).last
    assert job["status"] == "succeeded", f"{job['error']}\n{describe()}"
    assert survivor.alive(), survivor.tail()

    # The killed item was taken over by the survivor once its claim went stale (not
    # before: a live worker's item is never run twice), and finished there.
    assert re.search(rf"rung-1 of trial {killed} finished", survivor.log_text()), describe()
    assert not re.search(rf"rung-1 of trial {killed} finished", victim.log_text())
    assert time.monotonic() - killed_at >= 60.0 - ITEM_S, "taken over before its claim's TTL"
    attrs = study.attrs(study_name)
    after = {c["number"]: c for c in leaderboard(client, dave, job_id)}
    # Every rung member (the baselines and the distinct best screened) has its result.
    members = sorted(n for n, c in after.items() if c["fidelity"] != "screen")
    assert sorted(int(k.rsplit(":", 1)[1]) for k in attrs if k.startswith("rung:1:")) == members
    assert killed in members and len(members) >= 4, describe()

    # The plan met exactly, nothing left running, every candidate finished.
    trials = study.trials(study_name)
    assert sum(t.state == "COMPLETE" for t in trials) == N_TRIALS, describe()
    assert not [t.number for t in trials if t.state in ("RUNNING", "WAITING")], describe()
    assert job["progress"]["trials_done"] == job["progress"]["trials_planned"] == N_TRIALS

    # Nothing finished before the kill was lost or changed: trial figures, rung results.
    for number, candidate in before.items():
        assert number in after, f"candidate {number} lost after the kill"
        assert figures(after[number]) == figures(candidate), number
    for key, value in attrs_before.items():
        if key.startswith("rung:"):
            assert attrs[key] == value, key
    assert after[killed]["rung_score"] is not None
