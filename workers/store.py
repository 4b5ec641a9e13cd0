"""The workers' port: where they read jobs and write what they find.

``workers`` sits below ``service`` and may not import it, yet its tasks must persist. So
the workers depend on small abstract bases, one per concern, and ``service`` implements
them over its database and artifact store and hands the result in
(:func:`workers.configure`), the way Optuna's optimisers depend on ``BaseStorage`` rather
than on SQLAlchemy:

- :class:`JobLifecycle`: a job's status changes, heartbeat, progress, candidates and
  result; which jobs are stale or ended lately;
- :class:`ArtifactResolver`: the files a job reads (artifacts named in its spec, its
  cached reference weights) and the bundle it writes;
- :class:`WorkerTelemetry`: what worker processes report about themselves (/metrics).

:class:`JobStore` is all three: what a task is handed. Code that needs one concern takes
that base (the heartbeat thread takes a :class:`WorkerTelemetry`). The contract written in
these docstrings is what ``tests/workers/test_store_contract.py`` checks, on every
implementation alike.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workers._gate import LocalGate, TrialGate

if TYPE_CHECKING:  # the port loads without the search stack (service.settings imports it)
    from search import Candidate

__all__ = [
    "ArtifactResolver",
    "JobLifecycle",
    "JobStatus",
    "JobStore",
    "JobTicket",
    "WorkerBeat",
    "WorkerTelemetry",
]


class JobStatus(StrEnum):
    """A job's status: queued -> running -> finalizing -> succeeded | failed | cancelled.

    The values are what the service's database stores (its column is this enum).
    """

    QUEUED = "queued"
    RUNNING = "running"
    FINALIZING = "finalizing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in _FINAL


_FINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})


@dataclass(frozen=True)
class JobTicket:
    """What a task needs to know about a job."""

    id: str
    owner: str
    spec: Mapping[str, Any]
    study_name: str
    status: JobStatus
    cancel_requested: bool
    device_kind: str  # the queue its slices run on: cpu | cuda
    prepared: bool = False  # its reference figures are recorded (and its baselines queued)

    @property
    def is_final(self) -> bool:
        return JobStatus(self.status).is_final


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


class JobLifecycle(abc.ABC):
    """A job's life as the workers drive it, and what it finds.

    Contract of every implementation:

    - Each method is its own transaction and is safe to call from several threads and
      processes at once.
    - Status changes are conditional (compare and set): of callers racing for the same
      transition exactly one wins; a call whose source status does not hold changes
      nothing (and says so where it returns a bool). A final status never changes again.
    - Every transition is recorded with its time, and resets the job's staleness clock.
    - A job id that does not exist raises ``KeyError`` (reads and writes alike, except
      :meth:`stale_jobs` and :meth:`ended_jobs`, which list ids).
    - Numbers JSON cannot spell (NaN, infinities) in a result, a reference or a candidate
      are stored as None.
    """

    @property
    @abc.abstractmethod
    def storage_url(self) -> str:
        """The Optuna storage URL the jobs' studies live in."""

    @abc.abstractmethod
    def load(self, job_id: str) -> JobTicket:
        """The job as it stands now."""

    @abc.abstractmethod
    def start(self, job_id: str) -> bool:
        """queued -> running (True); True if already running; False for any other status.
        Starting the job beats its heartbeat; racing callers all join, one moves it."""

    @abc.abstractmethod
    def begin_running(self, job_id: str, *, max_running: int | None = None) -> bool:
        """queued -> running. True for exactly one caller (the one that prepares the job);
        False for everyone else, whatever the status. With ``max_running``, only while the
        job's owner has fewer jobs running or finalizing than that (counted and moved in
        one step, so racing prepares of one owner never start more); else the job stays
        queued and False is returned."""

    @abc.abstractmethod
    def running_jobs(self, owner: str) -> int:
        """How many of ``owner``'s jobs are running or finalizing."""

    @abc.abstractmethod
    def queued_jobs(self, owner: str) -> list[str]:
        """``owner``'s queued jobs, oldest first (the order they start in)."""

    @abc.abstractmethod
    def begin_finalizing(self, job_id: str) -> bool:
        """running -> finalizing. True for exactly one caller; False for everyone else."""

    @abc.abstractmethod
    def succeed(self, job_id: str, result: Mapping[str, Any], best_artifact: str | None) -> None:
        """finalizing -> succeeded, with the result summary and the best bundle's artifact
        (an id :meth:`ArtifactResolver.store_bundle` gave). From any other status: nothing."""

    @abc.abstractmethod
    def fail(self, job_id: str, message: str) -> None:
        """Any non-final status -> failed, with a message a user can act on."""

    @abc.abstractmethod
    def mark_cancelled(self, job_id: str) -> None:
        """Any non-final status -> cancelled (after a cancellation request was honoured)."""

    @abc.abstractmethod
    def requeue(self, job_id: str, message: str) -> None:
        """running -> queued, when the sweeper restarts a job whose runner vanished (from any
        other status: nothing). Its staleness clock starts afresh: no runner has it yet."""

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
        runner's heartbeat, which the sweeper reads. Parallel slices report out of order:
        the counts and the best score only ever rise (a None or non-finite score leaves
        the best as it is)."""

    @abc.abstractmethod
    def record_candidates(self, job_id: str, candidates: Sequence[Candidate]) -> None:
        """Insert or update candidates by ``(job, number)``, each stored whole, as the
        search's one definition of a candidate has it."""

    @abc.abstractmethod
    def stale_jobs(self, older_than_s: float) -> list[str]:
        """Jobs not yet final (queued, running, finalizing) whose heartbeat (see
        :meth:`beat`; for a job no task has beaten yet, its last status change) is older
        than ``older_than_s`` seconds."""

    @abc.abstractmethod
    def ended_jobs(self, within_s: float) -> list[str]:
        """Jobs that became final (succeeded, failed, cancelled) in the last ``within_s``
        seconds."""

    def trial_gate(self, job_id: str) -> TrialGate:
        """The gate the start of the job's trials passes one at a time. This default
        serves stores whose workers share one process; a store shared by processes
        overrides it with a lock they all see."""
        return LocalGate(job_id)


class ArtifactResolver(abc.ABC):
    """The files of a job: artifacts its spec names, its cached reference, its bundle.

    Artifacts are owner-scoped: an id that does not exist and another owner's id alike
    raise ``KeyError`` (a worker never learns that someone else's id exists). Unknown job
    ids raise ``KeyError``. An artifact's file exists, whole, once its id is handed out;
    the form of a stored bundle (a zip, or the folder itself) is the store's.
    """

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

    def remove_stale_temp_files(self, older_than_s: float) -> int:
        """Delete the temporary files that writes cut short (a crash, a killed upload) left
        in the store's file area, older than ``older_than_s``; returns how many. The
        sweeper calls it. This default serves stores that keep no files."""
        del older_than_s
        return 0


class WorkerTelemetry(abc.ABC):
    """What worker processes report about themselves, for /metrics.

    Records are best effort for the caller (a failure costs a figure, never a job), but
    an implementation keeps each one it accepts: a slice of an unknown job raises
    ``KeyError``; a heartbeat is an upsert keyed by ``(worker, process)``.
    """

    @abc.abstractmethod
    def record_slice(
        self, job_id: str, *, worker: str, started_at: datetime, seconds: float, trials: int
    ) -> None:
        """A slice of ``job_id`` ended: ``trials`` trials in ``seconds`` on ``worker``."""

    @abc.abstractmethod
    def record_heartbeat(self, beat: WorkerBeat) -> None:
        """Insert or update the beat's worker process, seen now."""


class JobStore(JobLifecycle, ArtifactResolver, WorkerTelemetry, abc.ABC):
    """The whole port: what the tasks are handed (:func:`workers.configure`).

    An implementation keeps the contract of each of its three bases.
    """
