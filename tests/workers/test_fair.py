"""Fair shares between owners: at most ``max_running_per_owner`` jobs of one owner run at
once; the rest wait, queued, and start (oldest first) when a task ends one of the running
ones, or when the sweeper finds a slot free."""

from __future__ import annotations

import dataclasses

import pytest

from tests.specs import tiny
from tests.workers.conftest import OPTIONS, Clock, RecordingDispatcher
from tests.workers.memory_store import MemoryStore
from workers import PREPARE, RUN_SLICE, WorkerOptions, prepare_job, sweep
from workers.exceptions import InvalidOptions
from workers.runner import run_task

ONE = dataclasses.replace(OPTIONS, max_running_per_owner=1)


def test_a_prepare_over_the_owners_limit_leaves_the_job_queued(
    store: MemoryStore, recorder: RecordingDispatcher
) -> None:
    running = store.submit(tiny(), owner="alice")
    assert store.begin_running(running, max_running=1)
    waiting = store.submit(tiny(), owner="alice")

    prepare_job(store, recorder, waiting, ONE)

    assert store.job(waiting).status == "queued"
    assert store.history(waiting) == ["queued"]  # nothing recorded: it only waits
    assert recorder.calls == []
    # Another owner's job has slots of its own.
    assert store.begin_running(store.submit(tiny(), owner="bob"), max_running=1)


def test_the_task_that_ends_a_job_starts_the_owners_oldest_waiting_job(
    store: MemoryStore, recorder: RecordingDispatcher
) -> None:
    running = store.submit(tiny(), owner="alice")
    store.begin_running(running)
    first, second = (store.submit(tiny(), owner="alice", device_kind="cuda") for _ in range(2))
    other = store.submit(tiny(), owner="bob")
    store.request_cancel(running)

    run_task(RUN_SLICE, store, recorder, running, ONE)  # finds the cancel: the job ends

    assert store.job(running).status == "cancelled"
    assert recorder.calls == [(PREPARE, first, "cuda")]  # one slot: the oldest job
    assert {store.job(j).status for j in (first, second, other)} == {"queued"}


def test_every_free_slot_is_handed_on(store: MemoryStore, recorder: RecordingDispatcher) -> None:
    two = dataclasses.replace(OPTIONS, max_running_per_owner=2)
    ending = store.submit(tiny(), owner="alice")
    store.begin_running(ending)
    waiting = [store.submit(tiny(), owner="alice") for _ in range(3)]
    store.fail(ending, "broken")

    run_task(RUN_SLICE, store, recorder, ending, two)

    assert recorder.calls == [(PREPARE, job_id, "cpu") for job_id in waiting[:2]]


def test_a_task_that_leaves_its_job_going_starts_nothing(
    store: MemoryStore, recorder: RecordingDispatcher
) -> None:
    queued = store.submit(tiny(), owner="alice")
    store.submit(tiny(), owner="alice")

    run_task(RUN_SLICE, store, recorder, queued, ONE)  # a queued job's slice does nothing

    assert recorder.calls == []


def test_the_sweeper_leaves_a_waiting_job_until_its_owner_has_a_slot(
    store: MemoryStore, recorder: RecordingDispatcher, clock: Clock
) -> None:
    running = store.submit(tiny(), owner="alice")
    store.begin_running(running)
    waiting = store.submit(tiny(), owner="alice")
    clock.now += ONE.stale_after_s + 1
    store.beat(running)  # alive: only the waiting job is quiet

    assert sweep(store, recorder, ONE) == []
    assert recorder.calls == []
    assert store.job(waiting).status == "queued"

    # Its owner's job ended and the hand-on was lost: the sweeper starts the waiting job.
    store.fail(running, "broken")
    clock.now += ONE.stale_after_s + 1

    assert sweep(store, recorder, ONE) == [waiting]
    assert recorder.calls == [(PREPARE, waiting, "cpu")]


def test_the_limit_must_be_positive() -> None:
    with pytest.raises(InvalidOptions, match="max_running_per_owner"):
        WorkerOptions(max_running_per_owner=0)
