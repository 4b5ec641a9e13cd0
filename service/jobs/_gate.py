"""Locks across processes: the trial gate of :class:`workers.TrialGate` for workers in
many processes (a PostgreSQL advisory lock on the job, held on a connection of its own:
the server drops it with the connection if its holder dies), and :func:`owner_serial`, which
makes a count of one owner's jobs and the write that depends on it one step."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.orm import Session

from workers import TrialGate

__all__ = ["AdvisoryGate", "owner_serial"]

log = logging.getLogger(__name__)

# A holder keeps the gate from its count to its trial's first callback: well under a
# second. Past this a holder that hangs is ignored rather than stopping the job.
WAIT_S = 30.0
_POLL_S = 0.05


class AdvisoryGate(TrialGate):
    def __init__(self, engine: Engine, job_id: str, *, wait_s: float = WAIT_S) -> None:
        self.engine = engine
        self.job_id = job_id
        self.wait_s = wait_s
        self.key = _key(f"prunesearch-trial-gate:{job_id}")
        self._connection: Connection | None = None

    def acquire(self) -> None:
        connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        deadline = time.monotonic() + self.wait_s
        try:
            while not connection.scalar(select(func.pg_try_advisory_lock(self.key))):
                if time.monotonic() >= deadline:
                    log.warning(
                        "trial gate of job %s held for over %g s; going on without it",
                        self.job_id,
                        self.wait_s,
                    )
                    connection.close()
                    return
                time.sleep(_POLL_S)
        except BaseException:
            connection.invalidate()  # a lock it may hold goes with the connection
            connection.close()
            raise
        self._connection = connection

    def release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            connection.scalar(select(func.pg_advisory_unlock(self.key)))
        except Exception as exc:
            log.warning("trial gate of job %s: unlock failed (%s); dropping it", self.job_id, exc)
            connection.invalidate()  # the server releases the lock with the connection
        finally:
            connection.close()


# One lock per owner this process has counted jobs for (SQLite: every writer is here).
_owner_locks: dict[str, threading.Lock] = {}
_registry = threading.Lock()


@contextmanager
def owner_serial(engine: Engine, owner: str) -> Iterator[Callable[[Session], None]]:
    """Run a count of ``owner``'s jobs and the change it allows as one step.

    Yields ``enter``, which the transaction calls first. On PostgreSQL it takes a
    transaction-scoped advisory lock on the owner (released at commit or rollback, so it
    serializes workers and API processes alike); elsewhere (SQLite, one process) a lock of
    this process is held for the whole block, which must enclose the commit.
    """
    if engine.dialect.name == "postgresql":
        key = _key(f"prunesearch-owner:{owner}")

        def enter(session: Session) -> None:
            session.execute(select(func.pg_advisory_xact_lock(key)))

        yield enter
        return
    with _registry:
        lock = _owner_locks.setdefault(owner, threading.Lock())
    with lock:
        yield _nothing


def _nothing(session: Session) -> None:
    del session  # the process lock around the block does the work


def _key(name: str) -> int:
    digest = hashlib.sha256(name.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)  # PostgreSQL's bigint
