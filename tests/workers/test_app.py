"""The Celery app's settings, options validation, and the thin tasks run eagerly.

Real worker processes on Redis and PostgreSQL are exercised by the service's integration
tests; here the tasks run in this process (``Task.apply``) and messages go through kombu's
in-memory transport.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import optuna
import pytest
import redis.exceptions
import sqlalchemy.exc
from celery import Celery
from celery.exceptions import SoftTimeLimitExceeded

import workers._transient as transient_module
import workers.app as app_module
from tests.specs import tiny
from tests.workers.conftest import OPTIONS
from tests.workers.memory_store import MemoryStore
from workers import (
    FINALIZE,
    PREPARE,
    RUN_SLICE,
    SWEEP,
    BrokerUnavailable,
    CeleryDispatcher,
    JobTicket,
    WorkerOptions,
    configure,
    make_celery,
)
from workers._transient import backoff_s, is_transient

BROKER = "memory://"


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch) -> Celery:
    monkeypatch.setattr(app_module._state, "config", None)  # each test configures its own
    return make_celery(WorkerOptions(broker_url=BROKER))


def test_celery_is_configured_for_bounded_redeliverable_json_tasks() -> None:
    options = WorkerOptions(
        broker_url="redis://127.0.0.1:6379/0",
        visibility_timeout_s=7200,
        task_time_limit_s=3600,
        max_tasks_per_child=7,
        sweep_every_s=17.0,
    )
    conf = make_celery(options).conf

    assert conf.task_serializer == "json" and conf.result_serializer == "json"
    assert list(conf.accept_content) == ["json"]
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    # A broker reconnect leaves the slices in flight running.
    assert conf.worker_cancel_long_running_tasks_on_connection_loss is False
    assert conf.worker_prefetch_multiplier == 1
    visibility = conf.broker_transport_options["visibility_timeout"]
    assert visibility == 7200
    assert conf.task_soft_time_limit < conf.task_time_limit == 3600 < visibility
    assert conf.worker_max_tasks_per_child == 7
    assert conf.task_ignore_result is True and conf.result_backend is None
    assert conf.task_default_queue == "cpu"
    routes = {q.name: (q.exchange.name, q.routing_key) for q in conf.task_queues}
    assert routes == {"cpu": ("cpu", "cpu"), "cuda": ("cuda", "cuda")}
    (entry,) = conf.beat_schedule.values()
    assert entry["task"] == SWEEP and entry["schedule"] == 17.0
    assert entry["options"]["expires"] == 17.0  # a backlog of sweeps is worth one


def test_the_tasks_are_registered_by_name(app: Celery) -> None:
    for name in (PREPARE, RUN_SLICE, FINALIZE, SWEEP):
        assert app.tasks[name].name == name


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"task_time_limit_s": 3600, "visibility_timeout_s": 3600}, "below visibility_timeout_s"),
        ({"task_time_limit_s": 0}, "must be positive"),
        ({"slice_seconds": 1700}, "soft time limit"),
        ({"slice_trials": 0}, "slice_trials"),
        ({"stale_after_s": 0}, "stale_after_s"),
        ({"max_tasks_per_child": 0}, "max_tasks_per_child"),
        ({"trial_heartbeat_s": 60, "trial_grace_s": 60}, "trial_grace_s"),
        ({"max_parallelism": 0}, "max_parallelism"),
        ({"outage_tolerance_s": -1}, "outage_tolerance_s"),
    ],
)
def test_invalid_options_are_refused(kwargs: dict[str, Any], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        WorkerOptions(**kwargs)


def test_options_are_keyword_only_and_frozen() -> None:
    with pytest.raises(TypeError):
        WorkerOptions(2)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="tuple of module prefixes"):
        WorkerOptions(allowed_factories="mypkg")  # type: ignore[arg-type]
    with pytest.raises(AttributeError):
        OPTIONS.slice_trials = 3  # type: ignore[misc]


def test_celery_needs_a_broker() -> None:
    with pytest.raises(ValueError, match="embedded"):
        make_celery(WorkerOptions())


def test_a_task_in_an_unconfigured_process_says_what_is_missing(app: Celery) -> None:
    result = app.tasks[RUN_SLICE].apply(args=["job"])
    assert result.failed()
    assert isinstance(result.result, RuntimeError)
    assert "workers.configure" in str(result.result)


def test_a_task_fails_a_job_with_a_bad_spec_and_names_the_field(
    app: Celery, store: MemoryStore
) -> None:
    job_id = store.submit(tiny(model={"zoo": "no_such_net"}))
    configure(lambda: store, OPTIONS)

    result = app.tasks[PREPARE].apply(args=[job_id])

    assert result.successful()  # the job failed, not the task: nothing to retry
    assert store.job(job_id).status == "failed"
    assert "model" in (store.job(job_id).error or "")


class FlakyStore(MemoryStore):
    """``load`` raises the given errors, one per call, then works."""

    def __init__(self, *args: Any, errors: Sequence[BaseException], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.errors = list(errors)
        self.loads = 0

    def load(self, job_id: str) -> JobTicket:
        self.loads += 1
        if self.errors:
            raise self.errors.pop(0)
        return super().load(job_id)


def _storage_error() -> Exception:
    # What Optuna raises when the database drops a connection in one of its sessions.
    lost = sqlalchemy.exc.OperationalError("SELECT 1", {}, ConnectionError("server closed"))
    try:
        raise optuna.exceptions.StorageInternalError("commit failed") from lost
    except optuna.exceptions.StorageInternalError as exc:
        return exc


def test_transient_errors_are_retried_then_the_task_goes_on(
    app: Celery, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app_module, "backoff_s", lambda retries: 0.0)
    errors = [_storage_error(), redis.exceptions.ConnectionError("broker restarting")]
    store = FlakyStore(tmp_path, "sqlite://", errors=errors)
    job_id = store.submit(tiny())
    store.request_cancel(job_id)
    configure(lambda: store, OPTIONS)

    result = app.tasks[RUN_SLICE].apply(args=[job_id])

    assert result.successful()
    # Two that failed, the one that found the cancel, and the look at the ended job that
    # hands its owner's running slot on.
    assert store.loads == 4
    assert store.job(job_id).status == "cancelled"


class OutageClock:
    """Wall-clock time for the retry bound: each failed ``load`` of a FlakyStore costs
    ``step_s`` seconds of outage."""

    def __init__(self, step_s: float) -> None:
        self.now, self.step_s = 1_000_000.0, step_s

    def time(self) -> float:
        return self.now


class SlowFlakyStore(FlakyStore):
    def __init__(self, *args: Any, clock: OutageClock, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.outage = clock

    def load(self, job_id: str) -> JobTicket:
        if self.errors:
            self.outage.now += self.outage.step_s
        return super().load(job_id)


@pytest.fixture
def outage_clock(monkeypatch: pytest.MonkeyPatch) -> OutageClock:
    clock = OutageClock(step_s=60.0)
    monkeypatch.setattr(app_module, "backoff_s", lambda retries: 0.0)
    monkeypatch.setattr(transient_module, "time", clock)
    return clock


def test_an_outage_within_the_tolerance_never_fails_the_job(
    app: Celery, tmp_path: Path, outage_clock: OutageClock
) -> None:
    # Ten failed loads a minute apart: a 10-minute outage, within a 15-minute tolerance.
    errors = [_storage_error() for _ in range(10)]
    store = SlowFlakyStore(tmp_path, "sqlite://", errors=errors, clock=outage_clock)
    job_id = store.submit(tiny())
    store.request_cancel(job_id)
    configure(lambda: store, replace(OPTIONS, outage_tolerance_s=900.0))

    result = app.tasks[RUN_SLICE].apply(args=[job_id])

    assert result.successful()
    assert store.loads == 12  # ten failed, the task's, the hand-on's look at the ended job
    assert store.job(job_id).status == "cancelled"


def test_a_job_whose_database_stays_away_fails_once_the_outage_outlasts_the_tolerance(
    app: Celery, tmp_path: Path, outage_clock: OutageClock
) -> None:
    store = SlowFlakyStore(
        tmp_path, "sqlite://", errors=[_storage_error() for _ in range(10)], clock=outage_clock
    )
    job_id = store.submit(tiny())
    store.start(job_id)
    configure(lambda: store, replace(OPTIONS, outage_tolerance_s=250.0))

    result = app.tasks[RUN_SLICE].apply(args=[job_id])

    assert result.failed()
    # Timed from the first error: retried at +60 ... +240 s, given up at +300 s.
    assert store.loads == 6
    assert store.job(job_id).status == "failed"
    error = store.job(job_id).error or ""
    assert "unreachable for over 250 s" in error and "StorageInternalError" in error


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (ValueError("corrupt row"), "internal error in workers.run_slice: ValueError: corrupt"),
        (SoftTimeLimitExceeded(), "time limit of 1620 s"),
    ],
)
def test_other_errors_fail_the_job_at_once(
    app: Celery, tmp_path: Path, error: BaseException, words: str
) -> None:
    store = FlakyStore(tmp_path, "sqlite://", errors=[error])
    job_id = store.submit(tiny())
    store.start(job_id)
    configure(lambda: store, OPTIONS)

    result = app.tasks[RUN_SLICE].apply(args=[job_id])

    assert result.failed()
    assert store.loads == 1
    assert words in (store.job(job_id).error or "")


def test_the_sweep_task_restarts_stale_jobs_through_the_broker(
    app: Celery, store: MemoryStore, clock: Any
) -> None:
    job_id = store.submit(tiny(), device_kind="cuda")
    store.start(job_id)
    clock.now += OPTIONS.stale_after_s + 1
    configure(lambda: store, OPTIONS)

    assert app.tasks[SWEEP].apply().successful()

    assert store.job(job_id).status == "queued"
    assert _received(app, "cuda") == [(PREPARE, [job_id])]


def test_the_celery_dispatcher_sends_json_by_task_name_to_the_queue(app: Celery) -> None:
    dispatcher = CeleryDispatcher(app)
    # Each message reaches its own queue, and only that one.
    dispatcher.enqueue(SWEEP, "")
    dispatcher.enqueue(RUN_SLICE, "job-1", queue="cuda")
    with pytest.raises(ValueError, match="unknown task"):
        dispatcher.enqueue("workers.nope", "job-1")

    assert _received(app, "cuda") == [(RUN_SLICE, ["job-1"])]
    assert _received(app, "cpu") == [(SWEEP, [])]


def test_a_countdown_reaches_celery_as_the_messages_eta(app: Celery) -> None:
    dispatcher = CeleryDispatcher(app)
    dispatcher.enqueue(RUN_SLICE, "job-1", queue="cuda", countdown_s=5.0)
    dispatcher.enqueue(RUN_SLICE, "job-2", queue="cuda")

    etas = {args[0]: headers.get("eta") for args, headers in _messages(app, "cuda")}

    assert etas["job-1"] is not None and etas["job-2"] is None


def _messages(app: Celery, queue: str) -> list[tuple[list[Any], dict[str, Any]]]:
    """Drain ``queue`` of the in-memory broker: (args, headers) of each message."""
    out = []
    with app.connection_for_read() as connection:
        simple = connection.SimpleQueue(queue)
        while True:
            try:
                message = simple.get(timeout=0.2)
            except simple.Empty:
                break
            assert message.content_type == "application/json"
            args, _kwargs, _embed = message.decode()
            out.append((list(args), dict(message.headers)))
            message.ack()
        simple.close()
    return out


def _received(app: Celery, queue: str) -> list[tuple[str, list[Any]]]:
    """Drain ``queue`` of the in-memory broker: (task name, args) of each message."""
    return [(headers["task"], args) for args, headers in _messages(app, queue)]


def test_transient_errors_are_told_apart() -> None:
    assert is_transient(_storage_error())
    assert is_transient(redis.exceptions.TimeoutError())
    invalidated = sqlalchemy.exc.DBAPIError(
        "SELECT 1", {}, Exception("gone"), connection_invalidated=True
    )
    assert is_transient(invalidated)
    assert not is_transient(sqlalchemy.exc.DBAPIError("SELECT 1", {}, Exception("bad")))
    assert not is_transient(ValueError("bad spec"))
    assert not is_transient(sqlalchemy.exc.IntegrityError("INSERT", {}, Exception("dup")))


def test_backoff_doubles_up_to_a_cap() -> None:
    assert 1.0 <= backoff_s(0) <= 2.0
    assert 8.0 <= backoff_s(3) <= 16.0
    assert backoff_s(20) <= 120.0


def test_the_celery_dispatcher_reads_queue_depths_from_a_redis_broker_only() -> None:
    in_memory = CeleryDispatcher(make_celery(WorkerOptions(broker_url=BROKER)))
    assert in_memory.queue_depths() is None  # not a layout the workers know
    dead = CeleryDispatcher(
        make_celery(WorkerOptions(broker_url="redis://127.0.0.1:1/0")), timeout_s=0.5
    )
    with pytest.raises(BrokerUnavailable, match="did not answer"):
        dead.queue_depths()
