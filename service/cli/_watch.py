"""Following a job on a server: a Rich progress bar fed by the client's polls, and the end."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
)
from rich.text import Text

from service.cli._console import EXIT_FAILED, fail
from service.cli._format import NONE, duration, percent
from service.client import JobInfo

__all__ = ["JobProgress", "check_outcome"]

# What each status means for someone watching; the bar says how far the trials are.
_STATUS_NOTES = {
    "queued": "waiting for a worker",
    "running": "preparing (data, reference model, sensitivity), then screening and rungs",
    "finalizing": "final fine-tunes of the baselines and finalists",
    "succeeded": "done",
    "failed": "failed",
    "cancelled": "cancelled",
}


class JobProgress:
    """Shows a job's progress: trials done of planned, best so far, ETA, status.

    Use it as a context manager and pass it as ``Client.wait(..., on_progress=...)``. Each
    status change is also printed as a line of its own, which stays in a log or a pipe.
    """

    def __init__(self, console: Console) -> None:
        self._console = console
        self._status: str | None = None
        self._stage: str | None = None
        self._bar = Progress(
            SpinnerColumn(),
            TextColumn("{task.fields[status]:<10}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(
                "trials · best {task.fields[best]} · ETA {task.fields[eta]} · "
                "running {task.fields[run]}"
            ),
            console=console,
        )
        self._task = self._bar.add_task(
            "job", total=None, status="…", best=NONE, eta=NONE, run=NONE
        )

    def __enter__(self) -> JobProgress:
        self._bar.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._bar.stop()

    def __call__(self, job: JobInfo) -> None:
        progress = job.progress
        self._bar.update(
            self._task,
            completed=progress.trials_done,
            total=progress.trials_planned or None,
            status=job.status,
            best=NONE if progress.best_score is None else percent(progress.best_score),
            eta=duration(progress.eta_s),
            # The server's clock, not the bar's: Rich stops a task's timer once the trials
            # are all done, while the finals still run.
            run=duration(job.timings.run_s),
        )
        stage = job.progress.stage
        if job.status == "running" and stage and stage != "screen" and stage != self._stage:
            self._stage = stage
            self._bar.console.print(
                Text(f"job {job.id} ", style="bold")
                + Text(f"{stage}: successive halving, short fine-tunes of the best screened")
            )
        if job.status != self._status:
            self._status = job.status
            note = _STATUS_NOTES.get(job.status, "")
            line = Text(f"job {job.id} ", style="bold") + Text(f"{job.status}: {note}")
            if job.progress.trials_failed:
                line.append(f" ({job.progress.trials_failed} trials failed and were retried)")
            self._bar.console.print(line)


def check_outcome(console: Console, job: JobInfo) -> None:
    """Exit 1 with the job's error unless it succeeded."""
    if job.status == "succeeded":
        return
    if job.status == "cancelled":
        fail(console, f"job {job.id} was cancelled; trials that finished are kept", EXIT_FAILED)
    fail(console, f"job {job.id} {job.status}: {job.error or 'no reason recorded'}", EXIT_FAILED)
