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

Sharing: an owner runs at most ``max_running_per_owner`` jobs at once. A prepare beyond it
leaves its job queued; the task that ends one of the owner's jobs starts the oldest waiting
one (:func:`start_waiting`), and the sweeper does if that hand-on is lost.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import optuna
from optuna.storages import BaseStorage, RDBStorage
from optuna.trial import TrialState

from pruning import ExportError, PruningError
from search import SearchCancelled, SearchResult, SpecError, fail_dead_trials, log_context
from workers._heartbeat import count_slice, count_task, identity
from workers._ports import Dispatcher
from workers._session_cache import JobRun, SessionCache, study_storage
from workers._transient import is_transient
from workers.options import WorkerOptions
from workers.store import JobStore, JobTicket

__all__ = [
    "FINALIZE",
    "PREPARE",
    "RUN_SLICE",
    "SWEEP",
    "finalize_job",
    "prepare_job",
    "run_slice",
    "start_waiting",
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

# A temporary file of the artifact store this old was left by a write cut short: no upload
# or bundle takes a day to write.
STALE_TEMP_AFTER_S = 86400.0

# Errors of the job's own making: the job fails with the message; retrying cannot help.
JOB_ERRORS: tuple[type[Exception], ...] = (SpecError, PruningError)

sessions = SessionCache()


def prepare_job(
    store: JobStore, dispatcher: Dispatcher, job_id: str, options: WorkerOptions
) -> None:
    """queued -> running: prepare the model, check the budget, queue the baselines, record
    the reference figures, then start the job's slices on its queue.

    Idempotent: only the task that moves the job from queued to running prepares it, so a
    second prepare message (redelivered, or queued again by the sweeper) does nothing."""
    ticket = store.load(job_id)
    if ticket.is_final:
        return
    if ticket.cancel_requested:
        store.mark_cancelled(job_id)
        return
    if not store.begin_running(job_id, max_running=options.max_running_per_owner):
        now = store.load(job_id)
        if now.status == "queued":
            # The owner's running slots are taken: the job waits, queued, and the task that
            # ends one of those jobs starts it (start_waiting; the sweeper if that is lost).
            log.info(
                "job %s waits: its owner runs %d job(s) already, the most at once",
                job_id,
                options.max_running_per_owner,
            )
        else:
            log.info("prepare of job %s skipped: it is %s already", job_id, now.status)
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
    except Exception as exc:
        if is_transient(exc):
            # Queued again, so that the retry of this task prepares it (only a prepare
            # that moves the job from queued does); if this fails too, the sweeper does it.
            with contextlib.suppress(Exception):
                store.requeue(job_id, "database or broker away while preparing; retrying")
        raise
    start_slices(store, dispatcher, ticket, options, parallelism)


def start_waiting(
    store: JobStore, dispatcher: Dispatcher, owner: str, options: WorkerOptions
) -> list[str]:
    """Queue the ``prepare`` of ``owner``'s oldest queued jobs, as many as the owner has
    free running slots; return their ids. A prepare queued twice does no harm (only one
    moves the job from queued), and one that finds the slots taken again waits again."""
    free = options.max_running_per_owner - store.running_jobs(owner)
    if free <= 0:
        return []
    waiting = store.queued_jobs(owner)[:free]
    for job_id in waiting:
        dispatcher.enqueue(PREPARE, job_id, queue=store.load(job_id).device_kind)
    return waiting


def start_slices(
    store: JobStore,
    dispatcher: Dispatcher,
    ticket: JobTicket,
    options: WorkerOptions,
    parallelism: int,
) -> int:
    """Queue the job's slices (its parallelism, bounded by ``max_parallelism``); stops
    early if a cancel arrives meanwhile. Returns how many were queued."""
    queued = 0
    for _ in range(options.slices_for(parallelism)):
        if store.cancel_requested(ticket.id):
            break
        dispatcher.enqueue(RUN_SLICE, ticket.id, queue=ticket.device_kind)
        queued += 1
    return queued


def run_slice(store: JobStore, dispatcher: Dispatcher, job_id: str, options: WorkerOptions) -> None:
    """Run a bounded slice of trials, then hand on: another slice, or the one finalize."""
    ticket = store.load(job_id)
    if ticket.is_final:
        return
    if ticket.cancel_requested:
        store.mark_cancelled(job_id)
        return
    # queued: its prepare starts the slices; finalizing: the slices are over.
    if ticket.status != "running":
        log.info("slice of job %s skipped: it is %s", job_id, ticket.status)
        return
    started_at, start = datetime.now(UTC), time.perf_counter()
    try:
        with sessions.lend(store, ticket, options) as run:
            run.callback.beat(force=True)
            outcome = _run_trials(store, run, options)
    except SearchCancelled:
        store.mark_cancelled(job_id)  # finished trials stay in the study and the store
        return
    except JOB_ERRORS as exc:
        store.fail(job_id, str(exc))
        return
    _record_slice(
        store, job_id, started_at, time.perf_counter() - start, outcome.ran, outcome.finished
    )
    if outcome.surplus:
        # As many trials run as the job may run at once: this message is a duplicate (a
        # redelivery, a broker reconnect, the sweeper's restart of a job that was only
        # slow), and its chain ends here.
        log.info("slice of job %s ends its chain: the job runs enough slices", job_id)
    elif outcome.finished and not outcome.running:
        if store.begin_finalizing(job_id):
            dispatcher.enqueue(FINALIZE, job_id, queue=ticket.device_kind)
    elif outcome.finished or outcome.ran == 0:
        # The trials still missing run elsewhere (that slice finalizes when done), or a
        # dead worker's trial is not yet past Optuna's grace: look again shortly.
        log.info("job %s: %d trial(s) running elsewhere; waiting", job_id, outcome.running)
        dispatcher.enqueue(RUN_SLICE, job_id, queue=ticket.device_kind, countdown_s=SETTLE_POLL_S)
    else:
        # The continuation: no task may outlive the broker's visibility timeout. It goes
        # to the back of the queue (first in, first out), behind the slices and prepares
        # of other jobs queued meanwhile: jobs take turns, slice by slice.
        dispatcher.enqueue(RUN_SLICE, job_id, queue=ticket.device_kind)


@dataclass(frozen=True)
class _SliceOutcome:
    ran: int  # trials run here
    finished: bool  # the plan is met (no retry waiting)
    running: int  # trials still running anywhere
    surplus: bool = False  # the job ran as many slices as it may: end this chain


def _run_trials(store: JobStore, run: JobRun, options: WorkerOptions) -> _SliceOutcome:
    """Up to ``slice_trials`` work items for ``slice_seconds`` (the item in flight ends):
    screening trials, each started only if the plan still lacks it, counting the trials
    in flight on other workers, under the job's trial gate (see :mod:`workers._gate`);
    then rung items, each claimed in the study by the session."""
    session = run.session
    allowed = options.slices_for(session.prepared.spec.search.parallelism)
    gate = run.callback.gate = store.trial_gate(run.callback.job_id)
    ran, deadline = 0, time.monotonic() + options.slice_seconds
    try:
        while ran < options.slice_trials and time.monotonic() < deadline:
            session.in_flight()  # fails dead trials first: their retries keep screening open
            if session.screened():
                # The rungs: each item is claimed in the study, so no gate is needed and
                # a slice with nothing unclaimed left returns at once.
                if session.run_slice(max_trials=1) == 0:
                    break
                ran += 1
                continue
            gate.acquire()
            try:  # the trial's first callback releases the gate once it exists
                running = session.in_flight()  # fails dead trials first: retries wait
                if running >= allowed and not session.finished():
                    return _SliceOutcome(ran, finished=False, running=running, surplus=True)
                waiting = session.study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
                # At least the retries waiting: a job is not finalized with one waiting.
                missing = max(session.planned - session.counts()[0] - running, len(waiting))
                if missing <= 0 or session.run_slice(max_trials=1) == 0:
                    break
                ran += 1
            finally:
                gate.release()
    finally:
        run.callback.gate = None
    finished = session.finished()
    running = session.in_flight()
    # Failing a dead trial queues its retry: the plan is not met after all.
    return _SliceOutcome(ran, finished=finished and session.finished(), running=running)


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
            projector = run.callback.projector
            left = run.session.run_finals(max_finals=1)
            # Its accuracy and the finalists' Pareto front reach the leaderboard at once.
            projector.project(run.session.leaderboard())
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
    projector.project(result.leaderboard)  # the choice: margins, test accuracy, the front
    if result.best is None:
        store.fail(job_id, _nothing_feasible(result))
        return
    if store.cancel_requested(job_id):
        # Cancelled while the last final ran: no bundle for a job the user gave up on.
        store.mark_cancelled(job_id)
        return
    summary = {k: v for k, v in result.to_dict().items() if k != "leaderboard"}
    with tempfile.TemporaryDirectory(prefix="prunesearch-bundle-") as tmp:
        summary["onnx_error"] = _save_best(result, Path(tmp) / "best")
        artifact = store.store_bundle(job_id, Path(tmp) / "best")
    if store.cancel_requested(job_id):
        # Cancelled while the bundle was written (seconds, with ONNX): the user's cancel
        # wins; the bundle stays a whole, unreferenced artifact.
        store.mark_cancelled(job_id)
        return
    store.succeed(job_id, summary, artifact)


def sweep(store: JobStore, dispatcher: Dispatcher, options: WorkerOptions) -> list[str]:
    """Recover every job not yet final whose heartbeat went quiet; return their ids.

    Every task of a job beats the job's heartbeat while it runs (:func:`run_task`), so a
    job quiet for ``stale_after_s`` has no task running: its message was lost (the API
    died before queueing it, the broker lost its data) or its worker died. The sweeper
    queues the task its status calls for: ``prepare`` for a queued job (or a running one
    that died before it was prepared), its slices for a running one, ``finalize`` for a
    finalizing one; a job whose cancel was asked is cancelled here. A task queued twice
    does no harm: each one finds out from the job whether there is anything to do. The
    job's heartbeat is then beaten, so the task queued gets a whole ``stale_after_s``.

    Trials left RUNNING by a dead worker are failed once Optuna's grace has passed (a retry
    is queued for a job still searching), also in jobs that ended recently.
    """
    storages: list[BaseStorage] = []  # made on first need: most sweeps find nothing

    def storage() -> BaseStorage:
        if not storages:
            storages.append(study_storage(store.storage_url, options))
        return storages[0]

    recovered = []
    try:
        for job_id in store.stale_jobs(options.stale_after_s):
            try:
                ticket = store.load(job_id)
            except KeyError:
                continue
            if ticket.is_final:
                continue
            _fail_stale_trials(storage(), ticket.study_name)
            if _recover(store, dispatcher, ticket, options):
                recovered.append(job_id)
        for job_id in store.ended_jobs(_ended_window_s(options)):
            with contextlib.suppress(KeyError):
                _fail_stale_trials(storage(), store.load(job_id).study_name)
    finally:
        for made in storages:
            if isinstance(made, RDBStorage):
                made.engine.dispose()  # one sweep, one pool: leave no connections open
    if recovered:
        log.warning("recovered jobs whose runner went quiet: %s", ", ".join(recovered))
    _remove_stale_temp_files(store)
    return recovered


def _remove_stale_temp_files(store: JobStore) -> None:
    try:
        removed = store.remove_stale_temp_files(STALE_TEMP_AFTER_S)
    except OSError as exc:  # a file area that cannot be read now: the next sweep tries again
        log.warning("stale temporary files not swept: %s", exc)
        return
    if removed:
        log.info("removed %d stale temporary file(s) of interrupted writes", removed)


def _recover(
    store: JobStore, dispatcher: Dispatcher, ticket: JobTicket, options: WorkerOptions
) -> bool:
    job_id, queue = ticket.id, ticket.device_kind
    if ticket.cancel_requested:
        store.mark_cancelled(job_id)  # nothing runs it any more: honour the cancel here
        return True
    if ticket.status == "running" and not ticket.prepared:
        # Died while preparing: prepare it again (only from queued does prepare run).
        store.requeue(job_id, "runner vanished; restarted")
        ticket = store.load(job_id)
        if ticket.status != "queued":
            return False
    store.beat(job_id)
    if ticket.status == "queued":
        if store.running_jobs(ticket.owner) >= options.max_running_per_owner:
            return False  # waiting for a slot of its owner's, not lost: looked at again later
        dispatcher.enqueue(PREPARE, job_id, queue=queue)
    elif ticket.status == "running":
        parallelism = _spec_parallelism(ticket)
        start_slices(store, dispatcher, ticket, options, parallelism)
    elif ticket.status == "finalizing":
        dispatcher.enqueue(FINALIZE, job_id, queue=queue)
    else:
        return False
    log.warning("job %s (%s) went quiet; its task is queued again", job_id, ticket.status)
    return True


def _spec_parallelism(ticket: JobTicket) -> int:
    search = ticket.spec.get("search")
    value = search.get("parallelism", 1) if isinstance(search, Mapping) else 1
    return value if isinstance(value, int) and value > 0 else 1


def _ended_window_s(options: WorkerOptions) -> float:
    """How long after a job ended the sweeper still looks for its dead trials: past
    Optuna's grace, with room for sweeps missed during an outage."""
    return options.trial_grace_s + options.outage_tolerance_s + 3 * options.sweep_every_s


def run_task(
    task: str, store: JobStore, dispatcher: Dispatcher, job_id: str, options: WorkerOptions
) -> None:
    """Run the task named ``task`` (what a Celery task or the embedded pool executes);
    everything it logs carries the job id, and while it runs it beats the job's heartbeat,
    which is how the sweeper tells a job that is being worked on from one that is not."""
    try:
        if task == SWEEP:
            sweep(store, dispatcher, options)
            return
        with log_context(job_id=job_id), _beating(store, job_id, options.beat_every_s):
            JOB_TASKS[task](store, dispatcher, job_id, options)
            _hand_on_slot(store, dispatcher, job_id, options)
    finally:
        count_task()


def _hand_on_slot(
    store: JobStore, dispatcher: Dispatcher, job_id: str, options: WorkerOptions
) -> None:
    """After a task that ended its job: the owner's running slot is free, so start the
    owner's next queued job (the sweeper does it if this is lost)."""
    ticket = store.load(job_id)
    if not ticket.is_final:
        return
    started = start_waiting(store, dispatcher, ticket.owner, options)
    if started:
        log.info(
            "job %s is %s; its owner's next job(s) start: %s",
            job_id,
            ticket.status,
            ", ".join(started),
        )


@contextmanager
def _beating(store: JobStore, job_id: str, every_s: float) -> Iterator[None]:
    """Beat the job's heartbeat every ``every_s`` seconds while the block runs (a final
    fine-tune or a pretraining may go minutes without a callback). A beat that fails
    (the database is away) is logged; the task itself finds out soon enough."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every_s):
            try:
                store.beat(job_id)
            except KeyError:
                return
            except Exception as exc:
                log.warning("heartbeat of job %s not recorded: %s", job_id, exc)

    thread = threading.Thread(target=beat, name=f"prunesearch-job-beat-{job_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5.0)


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
    # KeyError: the runner died before the study was created, nothing to fail.
    with contextlib.suppress(KeyError):
        fail_dead_trials(optuna.load_study(study_name=study_name, storage=storage))
