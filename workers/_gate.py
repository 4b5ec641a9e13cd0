"""``TrialGate``: one trial of a job starts at a time, across every process of the job.

A slice counts the trials its job still lacks, then starts one; two slices that count at
the same moment both see the same trial missing and both start it (the plan overshoots).
So the count and the start happen under the job's gate, which the slice takes before
counting and releases as soon as its trial exists (the trial's first cancel check), not
when it ends: trials still run in parallel, only their starts queue up.
"""

from __future__ import annotations

import abc
import threading

__all__ = ["LocalGate", "TrialGate"]

# One lock per job this process has worked on: a few bytes each, for the process's life.
_locks: dict[str, threading.Lock] = {}
_registry = threading.Lock()


class TrialGate(abc.ABC):
    """A lock on the start of a job's trials; :meth:`release` is idempotent (the
    trial's first callback releases it, and the slice again in any case)."""

    @abc.abstractmethod
    def acquire(self) -> None:
        """Wait for the gate (bounded: a holder that hangs does not stop the job)."""

    @abc.abstractmethod
    def release(self) -> None:
        """Let the next start through; nothing if not held."""


class LocalGate(TrialGate):
    """The gate for stores whose workers all live in this process (one lock per job)."""

    def __init__(self, job_id: str) -> None:
        with _registry:
            self._lock = _locks.setdefault(job_id, threading.Lock())
        self._held = False

    def acquire(self) -> None:
        self._lock.acquire()
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._lock.release()
