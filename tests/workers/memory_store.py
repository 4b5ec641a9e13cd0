"""``MemoryStore``: a dict-backed :class:`workers.JobStore` for the tests.

Not a mock: it implements the whole contract of the ABC (conditional, lock-guarded status
changes with exactly one winner, ``KeyError`` for unknown ids, owner-scoped artifacts,
heartbeats read by ``stale_jobs``, upserts of candidates by number, bundles copied into a
store of its own), so the runner is tested against the same rules the service's SQL store
keeps: ``test_store_contract.py`` runs one suite on both. It also records every
transition with its time, for the tests to read.
"""

from __future__ import annotations

import copy
import math
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from search import Candidate
from workers import JobStatus, JobStore, JobTicket
from workers.store import WorkerBeat

FINAL = ("succeeded", "failed", "cancelled")


@dataclass
class StoredJob:
    id: str
    owner: str
    spec: dict[str, Any]
    study_name: str
    device_kind: str
    status: str = "queued"
    cancel_requested: bool = False
    error: str | None = None
    reference: dict[str, Any] | None = None
    progress: dict[str, Any] = field(default_factory=dict)
    candidates: dict[int, dict[str, Any]] = field(default_factory=dict)
    result: dict[str, Any] | None = None
    best_artifact: str | None = None
    heartbeat_at: float = 0.0
    events: list[tuple[str, str | None, float]] = field(default_factory=list)  # status, note, t


class MemoryStore(JobStore):
    """Jobs and artifacts in dicts under one lock; files under ``root``."""

    def __init__(
        self, root: Path, storage_url: str, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.root = root
        self._storage_url = storage_url
        self.clock = clock
        self._jobs: dict[str, StoredJob] = {}
        self._artifacts: dict[str, tuple[str, Path]] = {}  # id -> (owner, path)
        self._lock = threading.RLock()
        self.slices: list[dict[str, Any]] = []  # record_slice's arguments, in order
        self.heartbeats: dict[tuple[str, int], WorkerBeat] = {}  # the last beat per process

    # -- what the service would do (submit, cancel, upload), and reads for assertions --

    def submit(
        self, spec: Mapping[str, Any], *, owner: str = "alice", device_kind: str = "cpu"
    ) -> str:
        job_id = uuid.uuid4().hex[:12]
        with self._lock:
            job = StoredJob(
                id=job_id,
                owner=owner,
                spec=copy.deepcopy(dict(spec)),
                study_name=f"job-{job_id}",
                device_kind=device_kind,
            )
            job.events.append(("queued", None, self.clock()))
            job.heartbeat_at = self.clock()  # its last change, as the SQL store's updated_at
            self._jobs[job_id] = job
        return job_id

    def request_cancel(self, job_id: str) -> None:
        with self._lock:
            self._jobs[job_id].cancel_requested = True

    def add_artifact(self, owner: str, path: Path) -> str:
        artifact_id = uuid.uuid4().hex[:12]
        with self._lock:
            self._artifacts[artifact_id] = (owner, path)
        return artifact_id

    def job(self, job_id: str) -> StoredJob:
        """A copy of the job as stored now."""
        with self._lock:
            return copy.deepcopy(self._jobs[job_id])

    def history(self, job_id: str) -> list[str]:
        return [status for status, _, _ in self.job(job_id).events]

    # -- the JobStore contract --

    @property
    def storage_url(self) -> str:
        return self._storage_url

    def load(self, job_id: str) -> JobTicket:
        with self._lock:
            job = self._jobs[job_id]
            return JobTicket(
                id=job.id,
                owner=job.owner,
                spec=copy.deepcopy(job.spec),
                study_name=job.study_name,
                status=JobStatus(job.status),
                cancel_requested=job.cancel_requested,
                device_kind=job.device_kind,
                prepared=job.reference is not None,
            )

    def start(self, job_id: str) -> bool:
        with self._lock:
            job = self._jobs[job_id]
            if job.status == "queued":
                self._move(job, "running")
                job.heartbeat_at = self.clock()
            return job.status == "running"

    def begin_running(self, job_id: str, *, max_running: int | None = None) -> bool:
        with self._lock:
            owner = self._jobs[job_id].owner
            if max_running is not None and self.running_jobs(owner) >= max_running:
                return False
            if not self._transition(job_id, ("queued",), "running"):
                return False
            self._jobs[job_id].heartbeat_at = self.clock()
            return True

    def running_jobs(self, owner: str) -> int:
        with self._lock:
            slots = ("running", "finalizing")
            return sum(job.owner == owner and job.status in slots for job in self._jobs.values())

    def queued_jobs(self, owner: str) -> list[str]:
        with self._lock:  # dicts keep insertion order: the order of submission
            return [j.id for j in self._jobs.values() if j.owner == owner and j.status == "queued"]

    def begin_finalizing(self, job_id: str) -> bool:
        return self._transition(job_id, ("running",), "finalizing")

    def succeed(self, job_id: str, result: Mapping[str, Any], best_artifact: str | None) -> None:
        with self._lock:
            if self._transition(job_id, ("finalizing",), "succeeded"):
                job = self._jobs[job_id]
                job.result = _json_safe(dict(result))
                job.best_artifact = best_artifact

    def fail(self, job_id: str, message: str) -> None:
        with self._lock:
            if self._transition(job_id, ("queued", "running", "finalizing"), "failed", message):
                self._jobs[job_id].error = message

    def mark_cancelled(self, job_id: str) -> None:
        self._transition(job_id, ("queued", "running", "finalizing"), "cancelled")

    def requeue(self, job_id: str, message: str) -> None:
        self._transition(job_id, ("running",), "queued", message)

    def beat(self, job_id: str) -> None:
        with self._lock:
            self._jobs[job_id].heartbeat_at = self.clock()

    def cancel_requested(self, job_id: str) -> bool:
        with self._lock:
            return self._jobs[job_id].cancel_requested

    def record_reference(self, job_id: str, reference: Mapping[str, Any]) -> None:
        with self._lock:
            self._jobs[job_id].reference = _json_safe(dict(reference))

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
        with self._lock:
            job = self._jobs[job_id]
            # Parallel slices report out of order: counts and the best score only ever rise.
            old = job.progress
            scores = [s for s in (old.get("best_score"), _finite(best_score)) if s is not None]
            job.progress = {
                "trials_done": max(trials_done, old.get("trials_done", 0)),
                "trials_failed": max(trials_failed, old.get("trials_failed", 0)),
                "best_score": max(scores) if scores else None,
                "eta_s": eta_s,
                "stage": stage or old.get("stage"),
            }
            job.heartbeat_at = self.clock()

    def record_candidates(self, job_id: str, candidates: Sequence[Candidate]) -> None:
        with self._lock:
            job = self._jobs[job_id]
            for candidate in candidates:
                job.candidates[candidate.number] = _json_safe(candidate.to_dict())

    def artifact_path(self, owner: str, artifact_id: str) -> Path:
        with self._lock:
            found = self._artifacts.get(artifact_id)
        if found is None or found[0] != owner:
            raise KeyError(artifact_id)
        return found[1]

    def reference_path(self, job_id: str) -> Path:
        with self._lock:
            if job_id not in self._jobs:
                raise KeyError(job_id)
        return self.root / "references" / f"{job_id}.safetensors"

    def store_bundle(self, job_id: str, folder: Path) -> str:
        owner = self.load(job_id).owner
        artifact_id = uuid.uuid4().hex[:12]
        target = self.root / "artifacts" / artifact_id
        # Copied before the id is handed out, as the filesystem store writes, then commits.
        shutil.copytree(folder, target)
        with self._lock:
            self._artifacts[artifact_id] = (owner, target)
        return artifact_id

    def stale_jobs(self, older_than_s: float) -> list[str]:
        now = self.clock()
        with self._lock:
            return [
                job.id
                for job in self._jobs.values()
                if job.status not in FINAL and now - job.heartbeat_at > older_than_s
            ]

    def ended_jobs(self, within_s: float) -> list[str]:
        now = self.clock()
        with self._lock:
            return [
                job.id
                for job in self._jobs.values()
                if job.status in FINAL and now - job.events[-1][2] <= within_s
            ]

    def record_slice(
        self, job_id: str, *, worker: str, started_at: datetime, seconds: float, trials: int
    ) -> None:
        with self._lock:
            if job_id not in self._jobs:
                raise KeyError(job_id)
            self.slices.append(
                {
                    "job_id": job_id,
                    "worker": worker,
                    "started_at": started_at,
                    "seconds": seconds,
                    "trials": trials,
                }
            )

    def record_heartbeat(self, beat: WorkerBeat) -> None:
        with self._lock:
            self.heartbeats[(beat.worker, beat.process)] = beat

    # -- internals --

    def _transition(
        self, job_id: str, sources: Sequence[str], target: str, note: str | None = None
    ) -> bool:
        with self._lock:
            job = self._jobs[job_id]
            if job.status not in sources:
                return False
            self._move(job, target, note)
            return True

    def _move(self, job: StoredJob, target: str, note: str | None = None) -> None:
        job.status = target
        job.events.append((target, note, self.clock()))
        if target == "queued":
            job.heartbeat_at = self.clock()  # requeued: its last change, no runner yet


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _json_safe(value: Any) -> Any:
    """A deep copy with NaN and infinities as None, as a JSON column stores them."""
    if isinstance(value, float):
        return _finite(value)
    if isinstance(value, Mapping):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return copy.deepcopy(value)
