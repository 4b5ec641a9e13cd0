"""``SqlJobStore``: the workers' :class:`workers.JobStore` over our tables and artifact store.

Every method is one transaction of its own (retried on transient database errors), and
every status change goes through :func:`service.models.transition`, a compare-and-set
UPDATE: of two workers racing for the same change, exactly one wins.
"""

from __future__ import annotations

import contextlib
import logging
import math
import tempfile
import zipfile
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import CursorResult, case, func, select, update
from sqlalchemy.orm import Session

from search import Candidate as SearchCandidate
from search import finite, json_safe, score
from service.artifacts import ArtifactStore
from service.db import Database, upsert, with_retry
from service.exceptions import Conflict, InvalidTransition, NotFound
from service.jobs._downloads import safe_stem
from service.jobs._gate import AdvisoryGate, owner_serial
from service.models import (
    Artifact,
    ArtifactKind,
    Candidate,
    Job,
    JobStatus,
    SliceRun,
    WorkerProcess,
    transition,
    utcnow,
)
from workers import JobStore, JobTicket, TrialGate, WorkerBeat

__all__ = ["SqlJobStore"]

log = logging.getLogger(__name__)
T = TypeVar("T")

_S = JobStatus
_NOT_FINAL = (_S.QUEUED, _S.RUNNING, _S.FINALIZING)
_UPSERT_BATCH = 500
_MAX_BUNDLE_BYTES = 1 << 40  # our own output: no upload limit applies


class SqlJobStore(JobStore):
    """Jobs in the service's database; files (references, bundles) in ``artifacts``.

    A job's reference weights (the unpruned model trained by its ``prepare``) are written
    by the search to a scratch file (:meth:`reference_path`), taken into the artifact store
    with a row of kind ``reference`` when the reference is recorded, read from there by
    every later task, and deleted (file and row) once the job ends.

    ``storage_url`` is where the jobs' Optuna studies live: by default the service's own
    database (Optuna's tables and ours do not clash).
    """

    def __init__(
        self, database: Database, artifacts: ArtifactStore, storage_url: str | None = None
    ) -> None:
        self.database = database
        self.artifacts = artifacts
        self._storage_url = storage_url or database.engine.url.render_as_string(hide_password=False)

    @property
    def storage_url(self) -> str:
        return self._storage_url

    def load(self, job_id: str) -> JobTicket:
        return self._tx(lambda session: _ticket(_job(session, job_id)))

    def start(self, job_id: str) -> bool:
        def work(session: Session) -> bool:
            job = _job(session, job_id)
            if job.status is _S.QUEUED and _move(session, job, _S.RUNNING, "started", (_S.QUEUED,)):
                job.runner_heartbeat_at = utcnow()
            return job.status is _S.RUNNING

        return self._tx(work)

    def begin_running(self, job_id: str, *, max_running: int | None = None) -> bool:
        def work(session: Session) -> bool:
            job = _job(session, job_id)
            if max_running is not None and running_count(session, job.owner) >= max_running:
                return False
            if not _move(session, job, _S.RUNNING, "started", (_S.QUEUED,)):
                return False
            job.runner_heartbeat_at = utcnow()
            return True

        if max_running is None:
            return self._tx(work)
        owner = self.load(job_id).owner
        with owner_serial(self.database.engine, owner) as enter:

            def counted(session: Session) -> bool:
                enter(session)  # no other start of this owner's jobs between count and move
                return work(session)

            return self._tx(counted)

    def running_jobs(self, owner: str) -> int:
        return self._tx(lambda session: running_count(session, owner))

    def queued_jobs(self, owner: str) -> list[str]:
        statement = (
            select(Job.id)
            .where(Job.owner == owner, Job.status == _S.QUEUED)
            .order_by(Job.created_at, Job.id)
        )
        return self._tx(lambda session: list(session.scalars(statement)))

    def begin_finalizing(self, job_id: str) -> bool:
        return self._change(job_id, _S.FINALIZING, "finalizing", (_S.RUNNING,))

    def succeed(self, job_id: str, result: Mapping[str, Any], best_artifact: str | None) -> None:
        def work(session: Session) -> bool:
            job = _job(session, job_id)
            if _move(session, job, _S.SUCCEEDED, "succeeded", (_S.FINALIZING,)):
                job.result = json_safe(dict(result))
                job.best_artifact_id = best_artifact
                # During the search "best" is the best proxy score; once the finals have
                # run, the job's best is the chosen candidate's own score.
                best = result.get("best")
                value = score(best) if isinstance(best, Mapping) else None
                final = finite(value) if isinstance(value, int | float) else None
                if final is not None:
                    job.best_score = final
                return True
            log.warning("job %s not marked succeeded: it is %s", job_id, job.status.value)
            return False

        if self._tx(work):
            self._drop_reference(job_id)

    def fail(self, job_id: str, message: str) -> None:
        if self._change(job_id, _S.FAILED, message, _NOT_FINAL):
            self._drop_reference(job_id)

    def mark_cancelled(self, job_id: str) -> None:
        if self._change(job_id, _S.CANCELLED, "cancelled on request", _NOT_FINAL):
            self._drop_reference(job_id)

    def requeue(self, job_id: str, message: str) -> None:
        self._change(job_id, _S.QUEUED, message, (_S.RUNNING,))

    def beat(self, job_id: str) -> None:
        self._update(job_id, runner_heartbeat_at=utcnow())

    def cancel_requested(self, job_id: str) -> bool:
        return self._tx(lambda session: _job(session, job_id).cancel_requested)

    def record_reference(self, job_id: str, reference: Mapping[str, Any]) -> None:
        """The reference's figures; and its weights, if the search trained and wrote them,
        taken into the artifact store (see the class's docstring)."""
        self._update(job_id, reference=json_safe(dict(reference)))
        scratch = self._scratch_reference(job_id)
        if scratch.is_file():
            self._keep_reference(job_id, scratch)

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
        # Parallel slices report out of order: counts and the best score only ever rise.
        best = finite(best_score)
        self._update(
            job_id,
            trials_done=case((Job.trials_done > trials_done, Job.trials_done), else_=trials_done),
            trials_failed=case(
                (Job.trials_failed > trials_failed, Job.trials_failed), else_=trials_failed
            ),
            best_score=(
                Job.best_score
                if best is None
                else case((Job.best_score > best, Job.best_score), else_=best)
            ),
            # The latest report's estimate: it is made from every finished trial.
            eta_s=finite(eta_s),
            runner_heartbeat_at=utcnow(),
            **({} if stage is None else {"stage": stage}),
        )

    def record_candidates(self, job_id: str, candidates: Sequence[SearchCandidate]) -> None:
        """Upsert whole candidates, every column from the candidate's own fields."""
        rows = list({c.number: _candidate_row(job_id, c) for c in candidates}.values())
        if not rows:
            return

        def work(session: Session) -> None:
            _job(session, job_id)
            # In batches: SQLite caps the bound parameters of one statement.
            for start in range(0, len(rows), _UPSERT_BATCH):
                batch = rows[start : start + _UPSERT_BATCH]
                session.execute(upsert(session, Candidate, batch, keys=("job_id", "number")))

        self._tx(work)

    def artifact_path(self, owner: str, artifact_id: str) -> Path:
        def work(session: Session) -> Path:
            artifact = session.get(Artifact, artifact_id)
            if artifact is None or artifact.owner != owner:
                raise KeyError(artifact_id)
            try:
                return self.artifacts.path(artifact.id)
            except NotFound as exc:
                raise KeyError(artifact_id) from exc

        return self._tx(work)

    def reference_path(self, job_id: str) -> Path:
        """The job's reference artifact once kept; before that, the scratch file the
        search writes the trained weights to."""
        kept = self._tx(lambda session: _job(session, job_id).reference_artifact_id)
        if kept is not None:
            with contextlib.suppress(NotFound):  # its file gone: train again, keep anew
                return self.artifacts.path(kept)
        return self._scratch_reference(job_id)

    def remove_stale_temp_files(self, older_than_s: float) -> int:
        return self.artifacts.remove_stale_temp(older_than_s)

    def store_bundle(self, job_id: str, folder: Path) -> str:
        """Zip ``folder`` into the artifact store (atomically), then commit its row."""
        job = self._tx(lambda session: _job(session, job_id))
        with tempfile.TemporaryFile() as archive:
            zip_folder(folder, archive)
            archive.seek(0)
            stored = self.artifacts.save_stream(archive, max_bytes=_MAX_BUNDLE_BYTES)
        artifact = Artifact(
            id=stored.id,
            owner=job.owner,
            kind=ArtifactKind.BUNDLE,
            filename=bundle_filename(job.name),
            sha256=stored.sha256,
            size=stored.size,
            path=stored.relpath,
        )
        try:
            self._tx(lambda session: session.add(artifact))
        except BaseException:
            self.artifacts.delete(stored.id)
            raise
        return stored.id

    def stale_jobs(self, older_than_s: float) -> list[str]:
        cutoff = utcnow() - timedelta(seconds=older_than_s)
        # A queued job has no heartbeat until a task beats it: its last change stands in.
        seen = func.coalesce(Job.runner_heartbeat_at, Job.updated_at)
        statement = select(Job.id).where(Job.status.in_(_NOT_FINAL), seen < cutoff)
        return self._tx(lambda session: list(session.scalars(statement)))

    def ended_jobs(self, within_s: float) -> list[str]:
        cutoff = utcnow() - timedelta(seconds=within_s)
        final = [status for status in _S if status.is_final]
        statement = select(Job.id).where(Job.status.in_(final), Job.finished_at >= cutoff)
        return self._tx(lambda session: list(session.scalars(statement)))

    def record_slice(
        self, job_id: str, *, worker: str, started_at: datetime, seconds: float, trials: int
    ) -> None:
        def work(session: Session) -> None:
            _job(session, job_id)
            session.add(
                SliceRun(
                    job_id=job_id,
                    worker=worker[:255],
                    started_at=started_at,
                    seconds=max(0.0, float(seconds)),
                    trials=int(trials),
                )
            )

        self._tx(work)

    def record_heartbeat(self, beat: WorkerBeat) -> None:
        row = {
            "worker": beat.worker[:255],
            "process": beat.process,
            "hostname": beat.hostname[:255],
            "pid": beat.pid,
            "queues": list(beat.queues),
            "started_at": beat.started_at,
            "last_seen": utcnow(),
            "tasks_done": beat.tasks_done,
            "slices_done": beat.slices_done,
        }

        def work(session: Session) -> None:
            session.execute(upsert(session, WorkerProcess, [row], keys=("worker", "process")))

        self._tx(work)

    def trial_gate(self, job_id: str) -> TrialGate:
        # PostgreSQL: workers in many processes; SQLite: embedded, one process.
        if self.database.engine.dialect.name == "postgresql":
            return AdvisoryGate(self.database.engine, job_id)
        return super().trial_gate(job_id)

    # -- internals --

    def _scratch_reference(self, job_id: str) -> Path:
        return self.artifacts.root / "references" / f"{job_id}.safetensors"

    def _keep_reference(self, job_id: str, scratch: Path) -> None:
        """Copy ``scratch`` into the store as the job's reference artifact (file first,
        then its row and the job's link), replacing any earlier one; then remove it."""
        with scratch.open("rb") as weights:
            stored = self.artifacts.save_stream(weights, max_bytes=_MAX_BUNDLE_BYTES)

        def work(session: Session) -> str | None:
            job = _job(session, job_id)
            earlier = job.reference_artifact_id
            session.add(
                Artifact(
                    id=stored.id,
                    owner=job.owner,
                    kind=ArtifactKind.REFERENCE,
                    filename=f"reference-{safe_stem(job.name)}.safetensors",
                    sha256=stored.sha256,
                    size=stored.size,
                    path=stored.relpath,
                )
            )
            session.flush()  # the row before the link to it
            job.reference_artifact_id = stored.id
            if earlier is not None:
                _delete_artifact_row(session, earlier)
            return earlier

        try:
            earlier = self._tx(work)
        except BaseException:
            self.artifacts.delete(stored.id)
            raise
        if earlier is not None:
            self.artifacts.delete(earlier)
        scratch.unlink(missing_ok=True)

    def _drop_reference(self, job_id: str) -> None:
        """Delete an ended job's reference weights: row and link first, then the file (a
        file without a row is harmless; a row without its file is not)."""

        def work(session: Session) -> str | None:
            job = _job(session, job_id)
            kept, job.reference_artifact_id = job.reference_artifact_id, None
            if kept is not None:
                session.flush()
                _delete_artifact_row(session, kept)
            return kept

        kept = self._tx(work)
        if kept is not None:
            self.artifacts.delete(kept)
        self._scratch_reference(job_id).unlink(missing_ok=True)

    def _tx(self, work: Callable[[Session], T]) -> T:
        def attempt() -> T:
            with self.database.session() as session:
                return work(session)

        return with_retry(attempt)

    def _change(
        self, job_id: str, target: JobStatus, message: str, sources: Collection[JobStatus]
    ) -> bool:
        return self._tx(
            lambda session: _move(session, _job(session, job_id), target, message, sources)
        )

    def _update(self, job_id: str, **values: Any) -> None:
        def work(session: Session) -> None:
            statement = update(Job).where(Job.id == job_id).values(**values)
            if cast(CursorResult[Any], session.execute(statement)).rowcount == 0:
                raise KeyError(job_id)

        self._tx(work)


def running_count(session: Session, owner: str) -> int:
    """How many of ``owner``'s jobs hold a running slot (running or finalizing)."""
    statement = select(func.count()).where(
        Job.owner == owner, Job.status.in_((_S.RUNNING, _S.FINALIZING))
    )
    return int(session.scalar(statement) or 0)


def queued_count(session: Session, owner: str) -> int:
    """How many of ``owner``'s jobs are queued (waiting to start, held ones included)."""
    statement = select(func.count()).where(Job.owner == owner, Job.status == _S.QUEUED)
    return int(session.scalar(statement) or 0)


def _delete_artifact_row(session: Session, artifact_id: str) -> None:
    artifact = session.get(Artifact, artifact_id)
    if artifact is not None:
        session.delete(artifact)


def _job(session: Session, job_id: str) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise KeyError(job_id)
    return job


def _ticket(job: Job) -> JobTicket:
    return JobTicket(
        id=job.id,
        owner=job.owner,
        spec=dict(job.spec),
        study_name=job.study_name,
        status=job.status,
        cancel_requested=job.cancel_requested,
        device_kind=job.device_kind.value,
        prepared=job.reference is not None,
    )


def _move(
    session: Session,
    job: Job,
    target: JobStatus,
    message: str,
    sources: Collection[JobStatus],
    attempts: int = 3,
) -> bool:
    """``job`` -> ``target`` if it is in one of ``sources``; False (no change) otherwise.
    A concurrent change refreshes the job and is looked at again."""
    for _ in range(attempts):
        if job.status not in sources:
            return False
        try:
            transition(session, job, target, message)
            return True
        except InvalidTransition:
            return False
        except Conflict:
            continue  # refreshed by transition(): decide again on the new status
    return False


def _candidate_row(job_id: str, candidate: SearchCandidate) -> dict[str, Any]:
    """The row of ``candidate``: its fields as they are (NaN as None), plus the durations
    /metrics aggregates in SQL."""
    row: dict[str, Any] = json_safe(candidate.to_dict())
    row["trial_s"], row["final_s"] = durations(row["timings"])
    return {**row, "job_id": job_id, "updated_at": utcnow()}


def durations(timings: Mapping[str, Any]) -> tuple[float | None, float | None]:
    """(trial seconds, final fine-tune seconds) from a candidate's timings: the trial is
    pruning plus the proxy fine-tune (``prune_s + proxy_s``), the final is ``final_s``."""
    trial = [float(timings[key]) for key in ("prune_s", "proxy_s") if _number(timings.get(key))]
    final = timings.get("final_s")
    return (sum(trial) if trial else None), (
        float(final) if isinstance(final, int | float) and _number(final) else None
    )


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def zip_folder(folder: Path, archive: Any) -> None:
    """Write the files of ``folder`` (recursively, relative names) into ``archive``."""
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                bundle.write(path, path.relative_to(folder).as_posix())


def bundle_filename(job_name: str) -> str:
    return f"{safe_stem(job_name)}-best.zip"
