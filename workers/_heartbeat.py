"""Who this worker process is, what it has done, and its heartbeat thread.

Each process that runs tasks (a Celery pool child, or the API process in embedded mode)
counts its tasks and slices here and starts one :class:`Heartbeat`: a daemon thread that
records a :class:`~workers.store.WorkerBeat` through the job store every few seconds, so
that /metrics, read from the database by any API replica, knows which workers are alive.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from workers.store import WorkerBeat, WorkerTelemetry

__all__ = ["Heartbeat", "Identity", "count_slice", "count_task", "identity", "set_identity"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Identity:
    """The worker (node) and pool process this process is, and the queues it serves."""

    worker: str
    process: int = 0
    queues: tuple[str, ...] = ()


@dataclass
class _ThisProcess:
    """All this module keeps per process, in one place: who it is and what it has done."""

    identity: Identity
    tasks: int = 0
    slices: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Set when a count changes: the heartbeat records it at once rather than an interval later.
    changed: threading.Event = field(default_factory=threading.Event)


_this = _ThisProcess(identity=Identity(worker=f"{socket.gethostname()}/{os.getpid()}"))


def identity() -> Identity:
    """This process's identity (default: ``host/pid`` until a worker sets one)."""
    with _this.lock:
        return _this.identity


def set_identity(value: Identity) -> None:
    with _this.lock:
        _this.identity = value


def count_task() -> None:
    with _this.lock:
        _this.tasks += 1
    _this.changed.set()


def count_slice() -> None:
    with _this.lock:
        _this.slices += 1
    _this.changed.set()


def counts() -> tuple[int, int]:
    """(tasks, slices) this process has run."""
    with _this.lock:
        return _this.tasks, _this.slices


class Heartbeat:
    """Records this process's :class:`WorkerBeat` now, then every ``interval_s`` and
    whenever a task or slice of this process ends (so its counts are current).

    ``store`` is called on the thread for each beat (so a store built lazily is built
    there). A beat that fails (database down) is logged; the next one tries again.
    """

    def __init__(
        self,
        store: Callable[[], WorkerTelemetry],
        who: Identity,
        *,
        interval_s: float,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.who = who
        self.interval_s = interval_s
        self.clock = clock
        self.started_at = clock()
        self.beats = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="prunesearch-heartbeat", daemon=True)

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def stop(self, timeout: float | None = 5.0) -> None:
        self._stop.set()
        _this.changed.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def beat(self) -> None:
        """Record one beat now."""
        tasks, slices = counts()
        self.store().record_heartbeat(
            WorkerBeat(
                worker=self.who.worker,
                process=self.who.process,
                hostname=socket.gethostname(),
                pid=os.getpid(),
                queues=self.who.queues,
                started_at=self.started_at,
                tasks_done=tasks,
                slices_done=slices,
            )
        )
        self.beats += 1

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.beat()
            except Exception as exc:  # the database may be away for a while
                log.warning("worker heartbeat of %s not recorded: %s", self.who.worker, exc)
            # Every interval_s, or as soon as a task or slice ends.
            _this.changed.wait(self.interval_s)
            _this.changed.clear()
