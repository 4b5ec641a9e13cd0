"""The Celery app: configuration and the thin tasks over :mod:`workers.runner`.

The service calls :func:`configure` in the worker process (what store to persist through,
which options) and then starts the app :func:`make_celery` returns. Tasks take a job id
(JSON), find the configured store and call the runner; errors are translated here only:
transient ones retried with backoff, anything else fails the job with a message.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from celery import Celery, Task, signals
from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from kombu.entity import Exchange, Queue

from workers import runner
from workers._broker import QUEUES
from workers._heartbeat import Heartbeat, Identity, set_identity
from workers._transient import OutageBound, backoff_s, is_transient
from workers.dispatch import CeleryDispatcher
from workers.exceptions import NoBroker, NotConfigured
from workers.options import WorkerOptions
from workers.store import JobStore

__all__ = ["QUEUES", "configure", "make_celery"]

log = logging.getLogger(__name__)


@dataclass
class _Config:
    store_factory: Callable[[], JobStore]
    options: WorkerOptions
    store: JobStore | None = None


@dataclass
class _ProcessState:
    """All this module keeps per process, in one place: what :func:`configure` set, the
    queues the worker consumes (set in its main process by ``worker_init``, inherited by
    the forked pool children) and the heartbeat the pool process started."""

    config: _Config | None = None
    queues: tuple[str, ...] = ()
    heartbeat: Heartbeat | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


_state = _ProcessState()


def configure(store_factory: Callable[[], JobStore], options: WorkerOptions) -> None:
    """Set the store and options the tasks of this process use.

    The store is built on the first task, not here: in Celery's prefork pool that is in the
    child process, so no database connection is shared across a fork.
    """
    with _state.lock:
        _state.config = _Config(store_factory=store_factory, options=options)


def configured() -> tuple[JobStore, WorkerOptions]:
    """The store and options set by :func:`configure`.

    Raises:
        NotConfigured: :func:`configure` was not called in this process.
    """
    with _state.lock:
        config = _state.config
        if config is None:
            raise NotConfigured(
                "workers.configure(store_factory, options) was not called in this worker "
                "process; start workers with `prunesearch worker`, which does"
            )
        if config.store is None:
            config.store = config.store_factory()
        return config.store, config.options


def make_celery(options: WorkerOptions) -> Celery:
    """A Celery app for ``options.broker_url`` with the job tasks registered.

    Raises:
        NoBroker: no broker is configured (run embedded instead).
    """
    if options.broker_url is None:
        raise NoBroker(
            "no broker_url: Celery needs a broker (redis://...); without one, jobs run "
            "embedded in the API process (workers.EmbeddedDispatcher)"
        )
    app = Celery("prunesearch", broker=options.broker_url, set_as_current=False)
    app.conf.update(_settings(options))
    # Not shared: Celery would otherwise add these tasks to every app made after this one.
    for name in runner.JOB_TASKS:
        app.task(name=name, base=JobTask, bind=True, shared=False)(_job_task(name))
    app.task(name=runner.SWEEP, base=JobTask, bind=True, shared=False)(_sweep)
    # Signals are global to Celery; the uids keep one receiver however many apps are made.
    signals.worker_init.connect(_on_worker_init, weak=False, dispatch_uid="prunesearch-init")
    signals.worker_process_init.connect(
        _on_worker_process_init, weak=False, dispatch_uid="prunesearch-process-init"
    )
    return app


def _on_worker_init(sender: Any = None, **_: Any) -> None:
    """In the worker's main process: remember the queues it consumes from."""
    try:
        _state.queues = tuple(sorted(sender.app.amqp.queues.consume_from))
    except AttributeError:
        _state.queues = ()


def _on_worker_process_init(sender: Any = None, **_: Any) -> None:
    """In each process that runs tasks (a prefork child, or the solo pool's worker): name
    it after the Celery node and its pool index, and start its heartbeat thread."""
    with _state.lock:
        config = _state.config
    if config is None:
        log.warning("no worker heartbeat: workers.configure() was not called in this process")
        return
    who = Identity(worker=str(sender), process=_pool_index(), queues=_state.queues)
    set_identity(who)
    _state.heartbeat = Heartbeat(
        lambda: configured()[0], who, interval_s=config.options.worker_heartbeat_s
    ).start()


def _pool_index() -> int:
    """A prefork child's index (reused by the child that replaces it); 0 elsewhere."""
    from billiard.process import current_process  # type: ignore[import-untyped]

    index = getattr(current_process(), "index", 0)
    return int(index) if isinstance(index, int) else 0


def _settings(options: WorkerOptions) -> dict[str, Any]:
    return {
        # JSON only: a message never unpickles anything.
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "event_serializer": "json",
        # A task is acknowledged when it ends, and put back if its worker dies, so a killed
        # slice runs again; one message at a time, so a long slice holds up nothing queued.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        # A broker reconnect must not kill the slices in flight: their work is not lost
        # (trials are in the database), and a slice whose message came back twice ends at
        # once when its job already runs as many slices as it may (runner.run_slice).
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        # Every task ends before Redis would redeliver it to a second worker.
        "task_time_limit": options.task_time_limit_s,
        "task_soft_time_limit": options.soft_time_limit_s,
        "broker_transport_options": {"visibility_timeout": options.visibility_timeout_s},
        "broker_connection_retry_on_startup": True,
        # Torch and data loaders leak a little per task; a fresh child now and then.
        "worker_max_tasks_per_child": options.max_tasks_per_child,
        # Results live in the job store; Celery keeps none.
        "result_backend": None,
        "task_ignore_result": True,
        "task_store_errors_even_if_ignored": False,
        "task_default_queue": "cpu",
        "task_queues": _queues(),
        "task_create_missing_queues": False,
        # For flower.
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "beat_schedule": {
            "prunesearch-sweep": {
                "task": runner.SWEEP,
                "schedule": options.sweep_every_s,
                # A backlog of sweeps is worth one sweep.
                "options": {"queue": "cpu", "expires": options.sweep_every_s},
            }
        },
    }


def _queues() -> list[Queue]:
    # Each queue on its own exchange and key: a Queue given only a name is bound to the
    # default exchange with the default key, and "cuda" messages would land in "cpu".
    return [
        Queue(name, Exchange(name, type="direct"), routing_key=name)  # type: ignore[no-untyped-call]
        for name in QUEUES
    ]


class JobTask(Task):  # type: ignore[misc]  # Celery ships no type hints
    """Base of the tasks: retries transient errors with backoff for as long as the outage
    is within ``outage_tolerance_s``; any other error (or a transient one past the bound)
    fails the job with a message, so no job is left running silently."""

    max_retries = None  # bounded by time instead (see _retrying)
    ignore_result = True

    def on_failure(
        self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        if not args:
            return  # the sweeper: nothing to fail, the next sweep tries again
        try:
            store, options = configured()
        except Exception:
            log.exception("task %s of job %s failed with no store to record it", self.name, args)
            return
        if isinstance(exc, (SoftTimeLimitExceeded, TimeLimitExceeded)):
            message = (
                f"a task ran past its time limit of {options.soft_time_limit_s:g} s: one trial "
                "or final fine-tune takes longer; shorten the fine-tunes (epochs, samples) "
                "or have the operator raise the task time limit"
            )
            runner.fail_quietly(store, str(args[0]), message)
            return
        if is_transient(exc):  # past the outage tolerance (see _retrying)
            message = (
                f"the database or broker was unreachable for over "
                f"{options.outage_tolerance_s:g} s ({type(exc).__name__}: {exc}); submit the "
                "job again once it is back (the operator can raise OUTAGE_TOLERANCE_S)"
            )
            runner.fail_quietly(store, str(args[0]), message)
            return
        runner.fail_unexpected(store, str(args[0]), self.name, exc)


@contextmanager
def _retrying(task: Any, options: WorkerOptions, outage_since: float | None) -> Iterator[None]:
    """Retry a transient error with backoff until the outage, timed from its first error
    (carried from retry to retry in the message), outlasts ``outage_tolerance_s``."""
    try:
        yield
    except Exception as exc:
        if not is_transient(exc):
            raise
        outage = OutageBound(options.outage_tolerance_s, since=outage_since)
        if outage():
            log.error(
                "%s: transient errors for over %g s (the outage tolerance); giving up: %s",
                task.name,
                options.outage_tolerance_s,
                exc,
            )
            raise
        retries = int(task.request.retries or 0)
        log.warning("%s: transient error (retry %d): %s", task.name, retries + 1, exc)
        args = list(task.request.args or [])
        raise task.retry(
            args=args,
            kwargs={"outage_since": outage.since},
            exc=exc,
            countdown=backoff_s(retries),
        ) from exc


def _job_task(name: str) -> Callable[..., None]:
    def job_task(self: Any, job_id: str, outage_since: float | None = None) -> None:
        _name_this_worker(self)
        store, options = configured()
        with _retrying(self, options, outage_since):
            runner.run_task(name, store, CeleryDispatcher(self.app), job_id, options)

    job_task.__name__ = job_task.__qualname__ = name.rpartition(".")[2]
    return job_task


def _name_this_worker(task: Any) -> None:
    """Slices are recorded under the node's name; a process whose heartbeat was not started
    (a worker started without the signal, e.g. in tests) learns it from the request."""
    hostname = getattr(task.request, "hostname", None)
    if _state.heartbeat is None and hostname:
        set_identity(Identity(worker=str(hostname), process=_pool_index(), queues=_state.queues))


def _sweep(self: Any) -> None:
    store, options = configured()
    try:
        runner.sweep(store, CeleryDispatcher(self.app), options)
    except Exception as exc:
        if not is_transient(exc):
            raise
        # Not retried: the next scheduled sweep is the retry (retries would pile up).
        log.warning("sweep skipped: %s", exc)
