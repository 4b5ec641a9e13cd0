"""A job's search session, built once per process and reused by its next tasks.

Preparing a job (loading data, loading the reference weights, analysing and measuring the
model, the budget pre-flight) costs seconds; a slice of two trials may cost as little. So a
process keeps the sessions of the last few jobs it worked on. A session is lent to one task
at a time: its models and Optuna objects are not meant to be shared between threads.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cachetools import LRUCache
from optuna.storages import RDBStorage

from search import (
    EpochEvent,
    SearchCallback,
    SearchOptions,
    SearchSession,
    SearchSpec,
    SpecError,
    TrialEvent,
    make_storage,
    prepare,
)
from workers._gate import TrialGate
from workers._projector import CandidateProjector
from workers.options import WorkerOptions
from workers.store import JobStore, JobTicket

# The cancel flag is a database read; epochs can be much shorter than a second.
CANCEL_POLL_S = 1.0


@dataclass
class JobCallback(SearchCallback):
    """Persists each finished trial, beats the job's heartbeat, polls the cancel flag."""

    store: JobStore
    job_id: str
    beat_every_s: float
    session: SearchSession | None = None
    # Held by a slice while it counts and starts a trial (see workers._gate).
    gate: TrialGate | None = None
    progress: dict[str, float | int | str | None] = field(default_factory=dict)
    projector: CandidateProjector = field(init=False)
    _cancelled: bool = False
    _polled_at: float = float("-inf")
    _beat_at: float = float("-inf")

    def __post_init__(self) -> None:
        self.projector = CandidateProjector(self.store, self.job_id)

    def on_trial_end(self, event: TrialEvent) -> None:
        self.projector.project([event.candidate])
        self.progress = {
            "trials_done": event.trials_done,
            "trials_failed": event.trials_failed,
            "best_score": event.best_score,
            "eta_s": event.eta_s,
            "stage": event.stage,
        }
        self.beat(force=True)

    def on_epoch_end(self, event: EpochEvent) -> None:
        self.beat()

    def should_stop(self) -> bool:
        # The first thing a trial does is ask this: it exists now, the next may start.
        if self.gate is not None:
            self.gate.release()
        now = time.monotonic()
        if not self._cancelled and now - self._polled_at >= CANCEL_POLL_S:
            self._polled_at = now
            self._cancelled = self.store.cancel_requested(self.job_id)
        return self._cancelled

    def beat(self, *, force: bool = False) -> None:
        """Re-send the progress so far; the sweeper reads it as a sign of life."""
        now = time.monotonic()
        if not force and now - self._beat_at < self.beat_every_s:
            return
        if not self.progress and self.session is not None:
            self.progress = progress_of(self.session)
        self._beat_at = now
        stage = self.progress.get("stage")
        self.store.record_progress(
            self.job_id,
            trials_done=int(self.progress.get("trials_done") or 0),
            trials_failed=int(self.progress.get("trials_failed") or 0),
            best_score=_number(self.progress.get("best_score")),
            eta_s=_number(self.progress.get("eta_s")),
            stage=None if stage is None else str(stage),
        )

    def rebind(self, store: JobStore) -> None:
        """Ready for another task of the same job: the flag is read afresh, and so is the
        progress (other processes may have moved the study on since)."""
        self.store = store
        self.projector.forget(store)
        self.progress = {}
        self.gate = None
        self._cancelled = False
        self._polled_at = float("-inf")


def _number(value: float | int | str | None) -> float | None:
    return None if value is None or isinstance(value, str) else float(value)


def progress_of(session: SearchSession) -> dict[str, float | int | str | None]:
    """Progress read from the study, for a process that has not seen a trial end yet."""
    progress = session.progress()
    return {
        "trials_done": progress.trials_done,
        "trials_failed": progress.trials_failed,
        "best_score": progress.best_score,
        "eta_s": progress.eta_s,
        "stage": progress.stage,
    }


@dataclass
class JobRun:
    """A job's session and the callback bound into it."""

    session: SearchSession
    callback: JobCallback


class SessionCache:
    """Idle sessions by job, the least recently used dropped first."""

    def __init__(self, size: int = 2) -> None:
        self.size = size
        # Sessions are taken out while lent: the cache holds idle ones only.
        self._idle: LRUCache[tuple[str, str, str], JobRun] = LRUCache(maxsize=size)
        self._lock = threading.Lock()

    @contextmanager
    def lend(self, store: JobStore, ticket: JobTicket, options: WorkerOptions) -> Iterator[JobRun]:
        """The job's session, built if no idle one is cached; cached again after use.

        Raises:
            SpecError, BudgetError, PruningError: the job cannot be prepared.
        """
        key = (ticket.id, store.storage_url, ticket.study_name)
        with self._lock:
            run = self._idle.pop(key, None)
        if run is None:
            run = build(store, ticket, options)
        else:
            run.callback.rebind(store)
        yield run
        # Not reached when the body raised: a session in an unknown state is dropped.
        with self._lock:
            self._idle[key] = run  # drops the least recently used beyond ``size``

    def forget(self, job_id: str) -> None:
        with self._lock:
            for key in [k for k in list(self._idle) if k[0] == job_id]:
                del self._idle[key]

    def clear(self) -> None:
        with self._lock:
            self._idle.clear()


def study_storage(url: str, options: WorkerOptions) -> RDBStorage:
    """The Optuna storage at ``url``, with the trial heartbeat the options ask for."""
    return make_storage(url, heartbeat_s=options.trial_heartbeat_s, grace_s=options.trial_grace_s)


def build(store: JobStore, ticket: JobTicket, options: WorkerOptions) -> JobRun:
    """Prepare the job's spec and open its study (the budget pre-flight runs here)."""
    spec = SearchSpec.parse(ticket.spec)

    def resolve(artifact_id: str) -> Path:
        try:
            return store.artifact_path(ticket.owner, artifact_id)
        except KeyError:
            raise SpecError(f"no artifact {artifact_id!r} (deleted, or not yours)") from None

    prepared = prepare(
        spec,
        resolve=resolve,
        allowed_factories=options.allowed_factories,
        reference_weights=store.reference_path(ticket.id),
    )
    callback = JobCallback(store=store, job_id=ticket.id, beat_every_s=options.beat_every_s)
    session = SearchSession(
        prepared,
        storage=study_storage(store.storage_url, options),
        study_name=ticket.study_name,
        callbacks=[callback],
        sampler_seed=_sampler_seed(prepared.spec.search),
        claim_ttl_s=options.trial_grace_s,
    )
    callback.session = session
    return JobRun(session=session, callback=callback)


def _sampler_seed(options: SearchOptions) -> int:
    """The spec's seed for one slice at a time; a fresh seed per session for parallel
    slices, which share one study and would otherwise draw the same points (process ids
    repeat across containers, so they cannot tell workers apart)."""
    if options.parallelism == 1:
        return options.seed
    return secrets.randbelow(2**31)
