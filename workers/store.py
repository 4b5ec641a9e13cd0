"""``JobStore``: where the workers read jobs and write what they find.

``workers`` sits below ``service`` and may not import it, yet its tasks must persist. So
the workers depend on this small abstract base, and ``service`` implements it over its
database and artifact store and hands it in (:func:`workers.configure`), the way Optuna's
optimisers depend on ``BaseStorage`` rather than on SQLAlchemy.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from search import Candidate
from workers._gate import LocalGate, TrialGate

__all__ = ["JobStore", "JobTicket", "WorkerBeat"]


@dataclass(frozen=True)
class JobTicket:
    """What a task needs to know about a job."""

    id: str
    owner: str
    spec: Mapping[str, Any]
    study_name: str
    status: str  # queued | running | finalizing | succeeded | failed | cancelled
    cancel_requested: bool
    device_kind: str  # the queue its slices run on: cpu | cuda
    prepared: bool = False  # its reference figures are recorded (and its baselines queued)

    @property
    def is_final(self) -> bool:
        return self.status in ("succeeded", "failed", "cancelled")


@dataclass(frozen=True, kw_only=True)
class WorkerBeat:
    """A worker process's sign of life, with what it has done since it started.

    ``worker`` names the worker (a Celery node name, ``w1@host``; ``embedded@host`` for the
    API's thread pool) and ``process`` its pool process (a prefork child's index, which a
    replacement child reuses); the two identify the beat's row.
    """

    worker: str
    process: int
    hostname: str
    pid: int
    queues: tuple[str, ...]
    started_at: datetime  # aware, UTC
    tasks_done: int
    slices_done: int


class JobStore(abc.ABC):
    """Persistence for the workers. Every method is its own transaction and is safe to call
    from several processes at once; status changes are conditional, so two workers racing
    for the same transition see exactly one winner. Unknown job ids raise ``KeyError``."""

    @property
    @abc.abstractmethod
    def storage_url(self) -> str:
        """The Optuna storage URL the jobs' studies live in."""

    @abc.abstractmethod
    def load(self, job_id: str) -> JobTicket:
        """The job as it stands now."""

    @abc.abstractmethod
    def start(self, job_id: str) -> bool:
        """queued -> running (True); True if already running; False for any other status."""

    @abc.abstractmethod
    def begin_running(self, job_id: str) -> bool:
        """queued -> running. True for exactly one caller (the one that prepares the job);
        False for everyone else, whatever the status."""

    @abc.abstractmethod
    def begin_finalizing(self, job_id: str) -> bool:
        """running -> finalizing. True for exactly one caller; False for everyone else."""

    @abc.abstractmethod
    def succeed(self, job_id: str, result: Mapping[str, Any], best_artifact: str | None) -> None:
        """finalizing -> succeeded, with the result summary and the best bundle's artifact."""

    @abc.abstractmethod
    def fail(self, job_id: str, message: str) -> None:
        """Any non-final status -> failed, with a message a user can act on."""

    @abc.abstractmethod
    def mark_cancelled(self, job_id: str) -> None:
        """Any non-final status -> cancelled (after a cancellation request was honoured)."""

    @abc.abstractmethod
    def requeue(self, job_id: str, message: str) -> None:
        """running -> queued, when the sweeper restarts a job whose runner vanished."""

    @abc.abstractmethod
    def beat(self, job_id: str) -> None:
        """The job's runner is alive: its heartbeat (what :meth:`stale_jobs` reads) is now."""

    @abc.abstractmethod
    def cancel_requested(self, job_id: str) -> bool:
        """Whether a user asked to cancel (checked between trials and every epoch)."""

    @abc.abstractmethod
    def record_reference(self, job_id: str, reference: Mapping[str, Any]) -> None:
        """Figures of the unpruned model (params, MACs, latency, accuracies)."""

    @abc.abstractmethod
    def record_progress(
        self,
        job_id: str,
        *,
        trials_done: int,
        trials_failed: int,
        best_score: float | None,
        eta_s: float | None,
        stage: str | None = None,
    ) -> None:
        """Progress so far (``stage``: screen, rung-k or final, when known); also the
        runner's heartbeat, which the sweeper reads."""

    @abc.abstractmethod
    def record_candidates(self, job_id: str, candidates: Sequence[Candidate]) -> None:
        """Insert or update candidates by ``(job, number)``, each stored whole, as the
        search's one definition of a candidate has it."""

    @abc.abstractmethod
    def artifact_path(self, owner: str, artifact_id: str) -> Path:
        """The file of ``owner``'s artifact (weights or data named in a spec); ``KeyError``
        for an id that does not exist or belongs to someone else."""

    @abc.abstractmethod
    def reference_path(self, job_id: str) -> Path:
        """Where the job's trained unpruned weights are cached, shared by all its tasks."""

    @abc.abstractmethod
    def store_bundle(self, job_id: str, folder: Path) -> str:
        """Keep the best model's bundle folder as an artifact of the job's owner; its id."""

    @abc.abstractmethod
    def stale_jobs(self, older_than_s: float) -> list[str]:
        """Jobs not yet final (queued, running, finalizing) whose heartbeat (see
        :meth:`beat`; for a job no task has beaten yet, its last status change) is older
        than ``older_than_s`` seconds."""

    @abc.abstractmethod
    def ended_jobs(self, within_s: float) -> list[str]:
        """Jobs that became final (succeeded, failed, cancelled) in the last ``within_s``
        seconds."""

    @abc.abstractmethod
    def record_slice(
        self, job_id: str, *, worker: str, started_at: datetime, seconds: float, trials: int
    ) -> None:
        """A slice of ``job_id`` ended: ``trials`` trials in ``seconds`` on ``worker``."""

    @abc.abstractmethod
    def record_heartbeat(self, beat: WorkerBeat) -> None:
        """Insert or update the beat's worker process, seen now."""

    def trial_gate(self, job_id: str) -> TrialGate:
        """The gate the start of the job's trials passes one at a time. This default
        serves stores whose workers share one process; a store shared by processes
        overrides it with a lock they all see."""
        return LocalGate(job_id)
