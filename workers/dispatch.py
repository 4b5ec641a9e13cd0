"""Dispatchers: how a task hands on to the next (Celery, or a thread pool in the API)."""

from __future__ import annotations

import logging
import socket
import threading
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, cast

from tenacity import Retrying, retry_if_exception

from workers import runner
from workers._broker import QUEUES, redis_queue_depths
from workers._heartbeat import Heartbeat, Identity, set_identity
from workers._ports import Dispatcher
from workers._transient import OutageBound, backoff_s, is_transient
from workers.exceptions import UnknownTask
from workers.options import WorkerOptions
from workers.store import JobStore

__all__ = ["CeleryDispatcher", "Dispatcher", "EmbeddedDispatcher"]

log = logging.getLogger(__name__)


class CeleryDispatcher(Dispatcher):
    """Sends tasks by name through a Celery app's broker; the arguments are JSON.

    Its :meth:`queue_depths` reads the broker (Redis) with ``timeout_s`` to answer, so a
    broker that is away costs a caller (a /metrics scrape) that long at most.
    """

    def __init__(self, app: Any, *, queues: Sequence[str] = QUEUES, timeout_s: float = 1.0) -> None:
        self.app = app
        self.queues = tuple(queues)
        self.timeout_s = timeout_s

    def queue_depths(self) -> dict[str, int] | None:
        url = self.app.conf.broker_url
        if not isinstance(url, str):
            return None
        return redis_queue_depths(url, self.queues, timeout_s=self.timeout_s)

    def enqueue(
        self, task: str, job_id: str, *, queue: str = "cpu", countdown_s: float = 0.0
    ) -> None:
        if task not in runner.TASKS:
            raise UnknownTask(f"unknown task {task!r}; one of {', '.join(runner.TASKS)}")
        args = [] if task == runner.SWEEP else [str(job_id)]
        self.app.send_task(task, args=args, queue=queue, countdown=countdown_s or None)


class EmbeddedDispatcher(Dispatcher):
    """Runs the same task functions in a thread pool inside the calling process.

    For the embedded default (no broker): one worker, because SQLite takes one writer at a
    time. ``queue`` is ignored: every task runs here, and latency is measured on this host.
    An error is logged and fails the job (transient database errors are retried first);
    nothing is lost silently. With ``sweep_every_s``, the sweeper runs that often, so a job
    left running by a previous process resumes once it is stale.
    """

    def __init__(
        self,
        store: JobStore,
        options: WorkerOptions,
        *,
        max_workers: int = 1,
        sweep_every_s: float | None = 60.0,
    ) -> None:
        self.store = store
        self.options = options
        self._pool = ThreadPoolExecutor(max_workers, thread_name_prefix="prunesearch-task")
        self._pending = 0
        self._waiting: Counter[str] = Counter()  # queued, not started, by queue
        self._idle = threading.Condition()
        self._closed = threading.Event()
        self._timers: dict[threading.Timer, str] = {}  # tasks queued with a countdown: queue
        self._sweeper: threading.Thread | None = None
        if sweep_every_s is not None:
            self._sweeper = threading.Thread(
                target=self._sweep_every,
                args=(sweep_every_s,),
                name="prunesearch-sweeper",
                daemon=True,
            )
            self._sweeper.start()
        # This process is the worker: one heartbeat for the pool, like a Celery worker's.
        who = Identity(worker=f"embedded@{socket.gethostname()}", queues=QUEUES)
        set_identity(who)
        self._heartbeat = Heartbeat(
            lambda: store, who, interval_s=options.worker_heartbeat_s
        ).start()

    def queue_depths(self) -> dict[str, int]:
        with self._idle:
            return {queue: self._waiting[queue] for queue in QUEUES}

    def enqueue(
        self, task: str, job_id: str, *, queue: str = "cpu", countdown_s: float = 0.0
    ) -> None:
        if task not in runner.TASKS:
            raise UnknownTask(f"unknown task {task!r}; one of {', '.join(runner.TASKS)}")
        with self._idle:
            if self._closed.is_set():
                # Shutting down: the job stays as it is and the sweeper resumes it later.
                log.warning("not queueing %s for job %s: shutting down", task, job_id)
                return
            self._pending += 1
            self._waiting[queue] += 1
            if countdown_s <= 0:
                self._submit(task, job_id, queue)
                return
            # Counted as pending from now: join() waits for a delayed task too.
            timer = threading.Timer(countdown_s, self._submit_later, args=(task, job_id, queue))
            timer.daemon = True
            self._timers[timer] = queue
            timer.start()

    def _submit(self, task: str, job_id: str, queue: str) -> None:
        # Under the lock, so that shutdown cannot close the pool between check and submit.
        future = self._pool.submit(self._execute, task, job_id, queue)
        # Also runs for a future cancelled at shutdown.
        future.add_done_callback(lambda done: self._done(done, queue))

    def _submit_later(self, task: str, job_id: str, queue: str) -> None:
        with self._idle:
            if self._timers.pop(cast(threading.Timer, threading.current_thread()), None) is None:
                return  # shutdown got here first and dropped it
            if not self._closed.is_set():
                self._submit(task, job_id, queue)
                return
            self._drop(queue)

    def _drop(self, queue: str) -> None:
        """Forget a counted task that will never start (called under the lock)."""
        self._pending -= 1
        self._waiting[queue] -= 1
        self._idle.notify_all()

    def join(self, timeout: float | None = None) -> bool:
        """Wait until no task is queued or running (continuations included); False if
        ``timeout`` seconds passed first."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def shutdown(self, wait: bool = True) -> None:
        """Stop taking tasks and drop the queued ones; with ``wait``, let the running task
        end (a slice is bounded by ``slice_seconds``)."""
        with self._idle:
            self._closed.set()
            for timer, queue in self._timers.items():
                timer.cancel()
                self._drop(queue)
            self._timers.clear()
        self._pool.shutdown(wait=wait, cancel_futures=True)
        self._heartbeat.stop(timeout=None if wait else 0)
        if wait and self._sweeper is not None:
            self._sweeper.join()

    def _execute(self, task: str, job_id: str, queue: str) -> None:
        with self._idle:
            self._waiting[queue] -= 1
        # Transient errors are retried in this thread until the outage outlasts the
        # tolerance (or shutdown begins); the wait ends early at shutdown.
        retrying = Retrying(
            retry=retry_if_exception(lambda exc: is_transient(exc) and not self._closed.is_set()),
            stop=OutageBound(self.options.outage_tolerance_s),
            wait=lambda state: backoff_s(state.attempt_number - 1),
            sleep=self._wait,
            before_sleep=lambda state: log.warning(
                "%s of job %s: %s; retrying in %.0f s",
                task,
                job_id,
                state.outcome.exception() if state.outcome else None,
                state.upcoming_sleep,
            ),
            reraise=True,
        )
        try:
            retrying(runner.run_task, task, self.store, self, job_id, self.options)
        except Exception as exc:
            log.exception("%s of job %s failed", task, job_id)
            if task != runner.SWEEP:
                runner.fail_unexpected(self.store, job_id, task, exc)

    def _wait(self, seconds: float) -> None:
        self._closed.wait(seconds)  # cut short by shutdown

    def _done(self, future: Future[None], queue: str) -> None:
        with self._idle:
            if future.cancelled():
                self._drop(queue)  # dropped at shutdown before it started
                return
            self._pending -= 1
            self._idle.notify_all()

    def _sweep_every(self, seconds: float) -> None:
        while not self._closed.wait(seconds):
            self.enqueue(runner.SWEEP, "")
