"""The job functions: what each task does, with no Celery in them.

A job runs as a chain of short tasks that hand on to each other through a
:class:`~workers.dispatch.Dispatcher`::

    prepare --> run_slice (parallelism of them) --> run_slice ... --> finalize (one)
                    ^                |
                    +----------------+  until screening and every rung are done

``prepare`` measures sensitivity and queues the baselines; slices screen candidates, then
share the successive-halving rungs; ``finalize`` runs one final fine-tune per task.

Every task first reads the job, so a repeated or late task (a redelivered message, a slice
that lost the race to finalize) finds nothing to do and returns. The ``store`` makes each
status change conditional, which is what makes exactly one slice start the finalize.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import optuna
from optuna.storages import BaseStorage, RDBStorage

from pruning.exceptions import ExportError, PruningError
from search import SearchCancelled, SearchResult, SpecError, log_context
from search.runner import fail_dead_trials
from workers._heartbeat import count_slice, count_task, identity
from workers._session_cache import SessionCache, study_storage
from workers.options import WorkerOptions
from workers.store import JobStore

if TYPE_CHECKING:
    from workers.dispatch import Dispatcher

__all__ = [
    "FINALIZE",
    "PREPARE",
    "RUN_SLICE",
    "SWEEP",
    "finalize_job",
    "prepare_job",
    "run_slice",
    "sweep",
]

log = logging.getLogger(__name__)

# Task names, the same for Celery and the embedded pool.
PREPARE, RUN_SLICE, FINALIZE, SWEEP = (
    "workers.prepare",
    "workers.run_slice",
    "workers.finalize",
    "workers.sweep",
)

# How long a slice that found the plan met, but trials still running, waits to look again.
SETTLE_POLL_S = 5.0

# Errors of the job's own making: the job fails with the message; retrying cannot help.
JOB_ERRORS: tuple[type[Exception], ...] = (SpecError, PruningError)

sessions = SessionCache()


def prepare_job(
    store: JobStore, dispatcher: Dispatcher, job_id: str, options: WorkerOptions
) -> None:
    """queued -> running: prepare the model, check the budget, queue the baselines, record
    the reference figures, then start ``parallelism`` slices on the job's queue."""
    if not store.start(job_id):
        return
    ticket = store.load(job_id)
    if ticket.cancel_requested:
        store.mark_cancelled(job_id)
        return
    try:
        with sessions.lend(store, ticket, options) as run:
            run.session.enqueue_baselines()
            store.record_reference(job_id, run.session.prepared.reference.to_dict())
            run.callback.beat(force=True)
            parallelism = run.session.prepared.spec.search.parallelism
    except JOB_ERRORS as exc:
        store.fail(job_id, str(exc))
        return
    for _ in range(parallelism):
        dispatcher.enqueue(RUN_SLICE, job_id, queue=ticket.device_kind)


def run_slice(store: JobStore, dispatcher: Dispatcher, job_id: str, options: WorkerOptions) -> None:
    """Run a bounded slice of trials, then hand on: another slice, or the one finalize."""
    ticket = store.load(job_id)
    if ticket.is_final:
        return
    if ticket.cancel_requested:
        store.mark_cancelled(job_id)
        return
    # queued after the sweeper restarted the job; anything else (finalizing) is not ours.
    if not store.start(job_id):
        return
    started_at, start = datetime.now(UTC), time.perf_counter()
    try:
        with sessions.lend(store, ticket, options) as run:
            run.callback.beat(force=True)
            ran = run.session.run_slice(
                max_trials=options.slice_trials, timeout=options.slice_seconds
            )
            finished = run.session.finished()
            running = run.session.in_flight() if finished else 0
            # Failing a dead trial queues its retry: the plan is not met after all.
            finished = finished and run.session.finished()
    except SearchCancelled:
        store.mark_cancelled(job_id)  # finished trials stay in the study and the store
        return
    except JOB_ERRORS as exc:
        store.fail(job_id, str(exc))
        return
    _record_slice(store, job_id, started_at, time.perf_counter() - start, ran, finished)
    if not finished and ran == 0:
        # What is left (a rung item, the last trial) runs in another process: look again
        # shortly rather than spinning messages through the broker.
        dispatcher.enqueue(RUN_SLICE, job_id, queue=ticket.device_kind, countdown_s=SETTLE_POLL_S)
    elif not finished:
        # The continuation: no task may outlive the broker's visibility timeout.
        dispatcher.enqueue(RUN_SLICE, job_id, queue=ticket.device_kind)
    elif running:
        # Another slice's trial is still running (it finalizes when done), or a dead
        # worker's trial is not yet past Optuna's grace: look again shortly.
        log.info("job %s: plan met, %d trial(s) still running; waiting", job_id, running)
        dispatcher.enqueue(RUN_SLICE, job_id, queue=ticket.device_kind, countdown_s=SETTLE_POLL_S)
    elif store.begin_finalizing(job_id):
        dispatcher.enqueue(FINALIZE, job_id, queue=ticket.device_kind)


def finalize_job(
    store: JobStore, dispatcher: Dispatcher, job_id: str, options: WorkerOptions
) -> None:
    """finalizing -> succeeded: final fine-tunes, the best bundle, the whole leaderboard.

    Safe to run again: the finals already trained are stored in the study."""
    ticket = store.load(job_id)
    if ticket.status != "finalizing":
        log.info("finalize of job %s skipped: it is %s", job_id, ticket.status)
        return
    if ticket.cancel_requested:
        store.mark_cancelled(job_id)
        return
    try:
        with sessions.lend(store, ticket, options) as run:
            # One final fine-tune per task, like the trial slices: bounded work per message.
            left = run.session.run_finals(max_finals=1)
            # Its accuracy and the finalists' Pareto front reach the leaderboard at once.
            store.record_candidates(job_id, [c.to_dict() for c in run.session.leaderboard()])
            if left > 0:
                dispatcher.enqueue(FINALIZE, job_id, queue=ticket.device_kind)
                return
            result = run.session.finalize()
    except SearchCancelled:
        sessions.forget(job_id)
        store.mark_cancelled(job_id)
        return
    except JOB_ERRORS as exc:
        sessions.forget(job_id)
        store.fail(job_id, str(exc))
        return
    sessions.forget(job_id)  # the job is over: free its memory
    store.record_candidates(job_id, [c.to_dict() for c in result.leaderboard])
    if result.best is None:
        store.fail(job_id, _nothing_feasible(result))
        return
    summary = {k: v for k, v in result.to_dict().items() if k != "leaderboard"}
    with tempfile.TemporaryDirectory(prefix="prunesearch-bundle-") as tmp:
        summary["onnx_error"] = _save_best(result, Path(tmp) / "best")
        artifact = store.store_bundle(job_id, Path(tmp) / "best")
    store.succeed(job_id, summary, artifact)


def sweep(store: JobStore, dispatcher: Dispatcher, options: WorkerOptions) -> list[str]:
    """Restart running jobs whose runner stopped reporting; return their ids.

    The dead runner's trial is failed (and a retry queued) by Optuna's heartbeat check; the
    restart goes through ``prepare`` so that a job which died while preparing is prepared,
    and a job whose slices all died gets its ``parallelism`` back.
    """
    restarted = []
    for job_id in store.stale_jobs(options.stale_after_s):
        try:
            ticket = store.load(job_id)
        except KeyError:
            continue
        _fail_stale_trials(study_storage(store.storage_url, options), ticket.study_name)
        store.requeue(job_id, "runner vanished; restarted")
        dispatcher.enqueue(PREPARE, job_id, queue=ticket.device_kind)
        restarted.append(job_id)
    if restarted:
        log.warning("restarted jobs whose runner vanished: %s", ", ".join(restarted))
    return restarted


def run_task(
    task: str, store: JobStore, dispatcher: Dispatcher, job_id: str, options: WorkerOptions
) -> None:
    """Run the task named ``task`` (what a Celery task or the embedded pool executes);
    everything it logs carries the job id."""
    try:
        if task == SWEEP:
            sweep(store, dispatcher, options)
            return
        with log_context(job_id=job_id):
            JOB_TASKS[task](store, dispatcher, job_id, options)
    finally:
        count_task()


def _record_slice(
    store: JobStore, job_id: str, started_at: datetime, seconds: float, ran: int, finished: bool
) -> None:
    """Log the slice and record it for /metrics; a record that fails costs only the figure."""
    count_slice()
    log.info(
        "slice of job %s done: %d trials in %.2f s%s",
        job_id,
        ran,
        seconds,
        "; the trial plan is met" if finished else "",
    )
    try:
        store.record_slice(
            job_id, worker=identity().worker, started_at=started_at, seconds=seconds, trials=ran
        )
    except Exception as exc:
        log.warning("slice of job %s not recorded for metrics: %s", job_id, exc)


JOB_TASKS: dict[str, Callable[[JobStore, Dispatcher, str, WorkerOptions], None]] = {
    PREPARE: prepare_job,
    RUN_SLICE: run_slice,
    FINALIZE: finalize_job,
}
TASKS = (*JOB_TASKS, SWEEP)


def fail_unexpected(store: JobStore, job_id: str, task: str, exc: BaseException) -> None:
    """Fail a job after an error no task handles, so that it is never lost silently."""
    message = (
        f"internal error in {task}: {type(exc).__name__}: {exc}. "
        "The job was stopped; submit it again, and report this if it repeats."
    )
    fail_quietly(store, job_id, message)


def fail_quietly(store: JobStore, job_id: str, message: str) -> None:
    """``store.fail`` from an error handler: a second error is logged, not raised."""
    try:
        store.fail(job_id, message)
    except Exception:
        log.exception("could not mark job %s failed (%s)", job_id, message)


def _save_best(result: SearchResult, folder: Path) -> str | None:
    """Write the bundle, with ONNX when the export extra is there; an ONNX export that
    fails costs only the ONNX file (the message is kept with the result)."""
    try:
        result.save_best(folder)
    except ExportError as exc:
        log.warning("ONNX export of %s failed; the bundle goes without it: %s", folder, exc)
        result.save_best(folder, onnx=False)
        return str(exc)
    return None


def _nothing_feasible(result: SearchResult) -> str:
    limits = {k: v for k, v in result.limits.to_dict().items() if v is not None}
    tried = sum(c.state == "complete" for c in result.leaderboard)
    return (
        f"no candidate met the budget {limits} after {tried} completed trials; "
        "loosen the budget or raise search.n_trials"
    )


def _fail_stale_trials(storage: BaseStorage, study_name: str) -> None:
    try:
        fail_dead_trials(optuna.load_study(study_name=study_name, storage=storage))
    except KeyError:
        pass  # the runner died before the study was created: nothing to fail
    finally:
        if isinstance(storage, RDBStorage):
            storage.engine.dispose()  # one sweep, one pool: do not leave connections open
