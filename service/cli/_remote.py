"""Client commands over REST: ``submit``, ``watch``, ``leaderboard``, ``download``, ``cancel``.

They talk to the server at ``PRUNESEARCH_URL`` with the key in ``PRUNESEARCH_API_KEY``
(read by :meth:`Client.from_env`). An error answer is printed as ``error: <detail> (field
<field>)``: exit 2 for a 4xx (the request is at fault), 1 for a 5xx or no answer at all.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.text import Text

from service.cli._console import EXIT_FAILED, EXIT_INPUT, fail, make_console
from service.cli._remote_tables import best_summary, print_results
from service.cli._watch import JobProgress, check_outcome
from service.client import (
    KEY_ENV,
    BestInfo,
    BudgetUnreachable,
    Client,
    ClientError,
    JobInfo,
    NotFound,
    Unauthorized,
)

__all__ = ["client_errors", "register"]

JobArg = Annotated[str, typer.Argument(metavar="JOB", help="The job's id.")]
PollOpt = Annotated[
    float, typer.Option("--poll", min=0.1, metavar="SECONDS", help="Seconds between polls.")
]


def register(app: typer.Typer) -> None:
    app.command("submit")(submit)
    app.command("watch")(watch)
    app.command("leaderboard")(leaderboard)
    app.command("download")(download)
    app.command("cancel")(cancel)


@contextmanager
def client_errors(console: Console) -> Iterator[None]:
    """A ClientError as ``error: ...`` and an exit code: 2 for a 4xx, 1 otherwise."""
    try:
        yield
    except ClientError as exc:
        hint = None
        if isinstance(exc, Unauthorized):
            hint = f"set {KEY_ENV} to a key from `prunesearch keys create --owner NAME`"
        elif isinstance(exc, BudgetUnreachable):
            hint = f"the smallest achievable is {exc.smallest:.6g}"
        fail(console, str(exc), EXIT_INPUT if exc.is_client_side else EXIT_FAILED, hint=hint)


def submit(
    spec: Annotated[Path, typer.Argument(metavar="SPEC.yaml", help="The job spec (YAML).")],
    wait: Annotated[
        bool, typer.Option("--wait", help="Follow the job to its end, then show its results.")
    ] = False,
    idempotency_key: Annotated[
        str | None,
        typer.Option(
            "--idempotency-key",
            metavar="KEY",
            help="Submitting again with the same key returns the first job, not a second.",
        ),
    ] = None,
    poll: PollOpt = 2.0,
) -> None:
    """Submit SPEC.yaml to the server; prints the job id (on stdout, alone, for scripts)."""
    results, messages = make_console(), make_console(stderr=True)
    with client_errors(messages), Client.from_env() as client:
        job = client.submit(spec, idempotency_key=idempotency_key)
        messages.print(
            Text(f"job {job.id} ({job.name}) {job.status}, ", style="bold")
            + Text(f"{job.progress.trials_planned} trials planned")
        )
        typer.echo(job.id)
        if not wait:
            messages.print(Text(f"follow it with: prunesearch watch {job.id}", style="dim"))
            return
        job = _follow(messages, client, job.id, poll)
        _show_results(results, client, job)
    check_outcome(messages, job)


def watch(job_id: JobArg, poll: PollOpt = 2.0) -> None:
    """Follow a job until it ends: trials done of planned, best so far, ETA, status.

    Exits 1, with the reason, if the job failed or was cancelled.
    """
    results, messages = make_console(), make_console(stderr=True)
    with client_errors(messages), Client.from_env() as client:
        job = _follow(messages, client, job_id, poll)
        if job.status == "succeeded":
            best = _best_or_none(client, job.id)
            if best is not None:
                results.print(best_summary(best))
    check_outcome(messages, job)


def leaderboard(
    job_id: JobArg,
    feasible: Annotated[
        bool, typer.Option("--feasible", help="Only candidates within the budget.")
    ] = False,
    kind: Annotated[
        Literal["uniform", "global", "sensitivity", "search"] | None,
        typer.Option("--kind", help="Only this kind of candidate.", show_default=False),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, metavar="N")] = 50,
    fmt: Annotated[
        Literal["table", "csv", "json"],
        typer.Option(
            "--format",
            help="table: the first N, with the gains; csv or json: every matching candidate "
            "(--limit ignored), to --out or stdout.",
        ),
    ] = "table",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", metavar="PATH", help="File for csv/json (default: stdout).", show_default=False
        ),
    ] = None,
) -> None:
    """A job's candidates, best first, with the baselines marked and the gains."""
    console = make_console()
    if fmt != "table":
        with client_errors(make_console(stderr=True)), Client.from_env() as client:
            target = out if out is not None else sys.stdout.buffer
            client.export_leaderboard(
                job_id, path=target, format=fmt, feasible=feasible or None, kind=kind
            )
            sys.stdout.flush()
        if out is not None:
            make_console(stderr=True).print(Text(f"leaderboard of job {job_id} written to {out}"))
        return
    with client_errors(make_console(stderr=True)), Client.from_env() as client:
        job = client.job(job_id)
        page = client.leaderboard(job_id, feasible=feasible or None, kind=kind, limit=limit)
        best = _best_or_none(client, job_id)
    print_results(console, job, page, best)


def download(
    job_id: JobArg,
    fmt: Annotated[
        Literal["bundle", "onnx", "safetensors"],
        typer.Option("--format", help="bundle: a folder for pruning.load_bundle; or one file."),
    ] = "bundle",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            metavar="PATH",
            help="Folder for the bundle, or file (or folder) for one format "
            "(default: ./<JOB>-best)",
            show_default=False,
        ),
    ] = None,
    candidate: Annotated[
        int | None,
        typer.Option(
            "--candidate",
            metavar="N",
            help="A candidate by trial number: only the best's weights are kept, any other "
            "is refused with the reason",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Download a job's best model (or, with --candidate, a candidate whose weights were kept)."""
    console = make_console()
    what = "best model" if candidate is None else f"candidate #{candidate}"
    default = Path(f"{job_id}-best" if candidate is None else f"{job_id}-{candidate}")
    with client_errors(make_console(stderr=True)), Client.from_env() as client:
        path = client.download(job_id, out or default, format=fmt, candidate=candidate)
    if fmt == "bundle":
        files = ", ".join(sorted(p.name for p in path.iterdir() if not p.name.startswith(".")))
        console.print(Text(f"{what} of job {job_id} written to {path}/ ({files})"))
    else:
        console.print(Text(f"{what} of job {job_id} written to {path}"))


def cancel(job_id: JobArg) -> None:
    """Cancel a job.

    A queued job stops at once, a running one at its trials' next epoch (what finished is
    kept). A job already over is an error (exit 2).
    """
    console = make_console()
    with client_errors(make_console(stderr=True)), Client.from_env() as client:
        job = client.cancel(job_id)
    if job.status == "cancelled":
        console.print(Text(f"job {job.id} cancelled"))
    else:
        console.print(
            Text(
                f"job {job.id} ({job.status}): cancel requested; running trials stop at "
                "their next epoch, finished ones are kept"
            )
        )


def _follow(console: Console, client: Client, job_id: str, poll: float) -> JobInfo:
    # One plain request first: a wrong id or an unreachable server is an error at once,
    # before a progress bar is drawn or wait() retries its polls.
    client.job(job_id)
    with JobProgress(console) as progress:
        return client.wait(job_id, poll_s=poll, on_progress=progress)


def _show_results(console: Console, client: Client, job: JobInfo) -> None:
    if job.status != "succeeded":
        return
    page = client.leaderboard(job.id, limit=50)
    print_results(console, job, page, _best_or_none(client, job.id))


def _best_or_none(client: Client, job_id: str) -> BestInfo | None:
    # 404 here only means "no feasible candidate (yet)": show the rest without it.
    try:
        return client.best(job_id)
    except NotFound:
        return None
