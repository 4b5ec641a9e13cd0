"""Worker heartbeats (a real thread), the embedded pool's queue depth and heartbeat, and the
Celery signal that gives each worker process its name and heartbeat."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from types import SimpleNamespace

import pytest

import workers.app as app_module
from tests.specs import tiny
from tests.workers.conftest import OPTIONS
from tests.workers.memory_store import MemoryStore
from workers import RUN_SLICE, EmbeddedDispatcher, JobTicket, configure
from workers._heartbeat import (
    Heartbeat,
    Identity,
    count_slice,
    count_task,
    counts,
    identity,
    set_identity,
)
from workers.store import WorkerBeat

WAIT_S = 30.0


class BeatingStore(MemoryStore):
    """Sets ``beaten`` once ``wanted(beat)`` holds for a recorded beat."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.beaten = threading.Event()
        self.wanted: Callable[[WorkerBeat], bool] = lambda beat: True
        self.failures = 0

    def record_heartbeat(self, beat: WorkerBeat) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("database away")
        super().record_heartbeat(beat)
        if self.wanted(beat):
            self.beaten.set()


@pytest.fixture
def beating(store: MemoryStore) -> BeatingStore:
    return BeatingStore(store.root, store.storage_url)


def test_a_heartbeat_thread_records_its_process_and_counts(beating: BeatingStore) -> None:
    tasks, slices = counts()
    count_task()
    count_slice()
    beating.wanted = lambda beat: beat.tasks_done == tasks + 1
    who = Identity(worker="w1@test", process=3, queues=("cpu", "cuda"))

    heartbeat = Heartbeat(lambda: beating, who, interval_s=0.05).start()
    try:
        assert beating.beaten.wait(WAIT_S), "no heartbeat recorded"
    finally:
        heartbeat.stop()

    beat = beating.heartbeats[("w1@test", 3)]
    assert beat.queues == ("cpu", "cuda") and beat.pid > 0 and beat.hostname
    assert beat.slices_done >= slices + 1
    assert beat.started_at.tzinfo is not None


def test_a_finished_slice_is_recorded_without_waiting_for_the_interval(
    beating: BeatingStore,
) -> None:
    _, slices = counts()
    # An hour between beats: after the first (at start), only the slice's nudge can beat.
    heartbeat = Heartbeat(lambda: beating, Identity(worker="w3@test"), interval_s=3600)
    heartbeat.start()
    try:
        assert beating.beaten.wait(WAIT_S), "no first beat"
        beating.wanted = lambda beat: beat.slices_done == slices + 1
        beating.beaten.clear()
        count_slice()
        assert beating.beaten.wait(WAIT_S), "the slice's count was not recorded"
    finally:
        heartbeat.stop()


def test_a_failed_beat_is_tried_again(beating: BeatingStore) -> None:
    beating.failures = 2

    heartbeat = Heartbeat(lambda: beating, Identity(worker="w2@test"), interval_s=0.01).start()
    try:
        assert beating.beaten.wait(WAIT_S), "the heartbeat stopped after a failed beat"
    finally:
        heartbeat.stop()

    assert ("w2@test", 0) in beating.heartbeats and beating.failures == 0


class BlockingStore(BeatingStore):
    """``load`` of the job named ``blocked`` waits until ``release`` is set."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.blocked = ""
        self.entered = threading.Event()
        self.release = threading.Event()

    def load(self, job_id: str) -> JobTicket:
        if job_id == self.blocked and not self.release.is_set():
            self.entered.set()
            assert self.release.wait(WAIT_S)
        return super().load(job_id)


@pytest.fixture
def blocking(store: MemoryStore) -> BlockingStore:
    return BlockingStore(store.root, store.storage_url)


def test_the_embedded_pool_reports_waiting_tasks_by_queue_and_beats(
    blocking: BlockingStore,
) -> None:
    blocking.wanted = lambda beat: beat.worker.startswith("embedded@")
    # Cancelled jobs: each task reads the job and returns, once the first is let through.
    jobs = [blocking.submit(tiny()) for _ in range(4)]
    for job_id in jobs:
        blocking.request_cancel(job_id)
    blocking.blocked = jobs[0]
    dispatcher = EmbeddedDispatcher(blocking, OPTIONS, sweep_every_s=None)
    try:
        assert dispatcher.queue_depths() == {"cpu": 0, "cuda": 0}
        dispatcher.enqueue(RUN_SLICE, jobs[0])
        assert blocking.entered.wait(WAIT_S)
        dispatcher.enqueue(RUN_SLICE, jobs[1])
        dispatcher.enqueue(RUN_SLICE, jobs[2])
        dispatcher.enqueue(RUN_SLICE, jobs[3], queue="cuda")

        assert dispatcher.queue_depths() == {"cpu": 2, "cuda": 1}  # the running one is not

        blocking.release.set()
        assert dispatcher.join(WAIT_S)
        assert dispatcher.queue_depths() == {"cpu": 0, "cuda": 0}
        assert blocking.beaten.wait(WAIT_S)
    finally:
        blocking.release.set()
        dispatcher.shutdown()
    assert [blocking.job(job_id).status for job_id in jobs] == ["cancelled"] * 4
    (beat,) = blocking.heartbeats.values()
    assert beat.queues == ("cpu", "cuda") and beat.process == 0
    assert identity().worker == beat.worker  # slices of this process are recorded under it


@pytest.fixture
def restore_app_state() -> Iterator[None]:
    state = app_module._state
    config, queues, before = state.config, state.queues, identity()
    yield
    if state.heartbeat is not None:
        state.heartbeat.stop()
    state.heartbeat = None
    state.config, state.queues = config, queues
    set_identity(before)


def test_each_celery_worker_process_gets_a_name_and_a_heartbeat(
    beating: BeatingStore, restore_app_state: None
) -> None:
    configure(lambda: beating, OPTIONS)
    consumer = SimpleNamespace(
        app=SimpleNamespace(amqp=SimpleNamespace(queues=SimpleNamespace(consume_from={"cuda": 1})))
    )

    app_module._on_worker_init(sender=consumer)  # the main process, before the fork
    app_module._on_worker_process_init(sender="w7@test")  # each pool process

    assert beating.beaten.wait(WAIT_S)
    assert identity() == Identity(worker="w7@test", process=0, queues=("cuda",))
    assert set(beating.heartbeats) == {("w7@test", 0)}
