"""Operating the service: ``serve``, ``worker``, ``migrate``, ``keys create``.

Settings come from ``PRUNESEARCH_*`` variables (:func:`get_settings`). FastAPI, uvicorn and
Celery are imported inside the commands that run them: ``prunesearch search`` and the
client commands must start without them.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.text import Text
from sqlalchemy.exc import SQLAlchemyError

from search import first_problem
from service.cli._console import EXIT_FAILED, EXIT_INPUT, fail, make_console
from service.cli._outputs import shown_url
from service.exceptions import ServiceError
from service.settings import Settings, get_settings

__all__ = ["register"]

keys_app = typer.Typer(
    name="keys", help="API keys (bearer tokens) of the server's database.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.command("worker")(worker)
    app.command("migrate")(migrate)
    keys_app.command("create")(create_key)
    app.add_typer(keys_app)


def load_settings(console: Console) -> Settings:
    """The settings from the environment, or exit 2 naming the variable at fault."""
    try:
        return get_settings()
    except ValidationError as exc:
        problem = first_problem(exc.errors())
        name = "_".join(problem.location).upper()
        where = f"PRUNESEARCH_{name}: " if name else "settings: "
        fail(console, where + problem.message, EXIT_INPUT)


def serve(
    host: Annotated[
        str | None,
        typer.Option("--host", help="Address to bind (default: PRUNESEARCH_HOST, 127.0.0.1)"),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", min=1, max=65535, help="Port (default: PRUNESEARCH_PORT, 8000)"),
    ] = None,
) -> None:
    """Run the REST API (uvicorn).

    Without PRUNESEARCH_BROKER_URL it also runs the jobs, embedded; with one, Celery
    workers (`prunesearch worker`) do. Run `prunesearch migrate` first.
    """
    console = make_console(stderr=True)
    settings = load_settings(console)
    from service._logging import configure_logging

    configure_logging(settings)
    updates = {
        key: value for key, value in {"host": host, "port": port}.items() if value is not None
    }
    # model_copy skips validation: create_app's own check refuses an exposed auth-off run.
    settings = settings.model_copy(update=updates)
    import uvicorn

    from service.app import InsecureSettings, create_app

    try:
        app = create_app(settings)
    except InsecureSettings as exc:
        fail(console, str(exc), EXIT_INPUT)
    mode = "embedded execution" if settings.embedded else "Celery workers"
    auth = "on" if settings.auth else "off (loopback only)"
    console.print(
        Text(f"prunesearch API on http://{settings.host}:{settings.port} ({mode}, auth {auth}; ")
        + Text(f"database {shown_url(settings.database_url)})")
    )
    # log_config=None: uvicorn's loggers propagate to the root handler configure_logging set.
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        log_config=None,
    )


def worker(
    queues: Annotated[
        str, typer.Option("--queues", "-Q", help="Comma-separated queues: cpu, cuda.")
    ] = "cpu",
    concurrency: Annotated[
        int | None,
        typer.Option(
            "--concurrency",
            "-c",
            min=1,
            help="Worker processes (default: one per CPU core)",
            show_default=False,
        ),
    ] = None,
    beat: Annotated[
        bool,
        typer.Option(
            "--beat", help="Also run the periodic sweeper (on one worker of the cluster only)."
        ),
    ] = False,
    hostname: Annotated[
        str | None,
        typer.Option(
            "--hostname",
            "-n",
            help="The worker's node name, unique in the cluster; Celery's %h (host), "
            "%n (host name), %d (domain) expand (default: prunesearch-<pid>@%h).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run a Celery worker for the search tasks (needs PRUNESEARCH_BROKER_URL)."""
    console = make_console(stderr=True)
    settings = load_settings(console)
    # An empty PRUNESEARCH_BROKER_URL is "unset" too: Celery would fall back to amqp://localhost.
    if not settings.broker_url:
        fail(
            console,
            "no broker configured: set PRUNESEARCH_BROKER_URL (e.g. redis://127.0.0.1:6379/0)",
            EXIT_INPUT,
            hint="without a broker, `prunesearch serve` runs the jobs itself (embedded)",
        )
    argv = worker_argv(settings, queues, concurrency, beat=beat, hostname=hostname)
    from service._logging import configure_logging
    from service.worker import celery_app

    configure_logging(settings)

    celery_app.worker_main(argv)


def worker_argv(
    settings: Settings,
    queues: str,
    concurrency: int | None,
    *,
    beat: bool,
    hostname: str | None = None,
) -> list[str]:
    """Celery's command line for these options; exit 2 for an unknown queue.

    The node name defaults to one per process (Celery's own default, ``celery@%h``, is the
    same for every worker on a host: two of them would be counted as one)."""
    from workers import QUEUES

    names = [name.strip() for name in queues.split(",") if name.strip()]
    unknown = sorted(set(names) - set(QUEUES))
    if unknown or not names:
        fail(
            make_console(stderr=True),
            f"--queues: unknown queue {', '.join(unknown) or '(none given)'}; "
            f"known: {', '.join(QUEUES)}",
            EXIT_INPUT,
        )
    if hostname is not None and not hostname.strip():
        fail(make_console(stderr=True), "--hostname: give a name, e.g. w1@%h", EXIT_INPUT)
    node = hostname.strip() if hostname else f"prunesearch-{os.getpid()}@%h"
    argv = ["worker", "--queues", ",".join(names), "--loglevel", settings.log_level]
    argv += ["--hostname", node]
    if concurrency is not None:
        argv += ["--concurrency", str(concurrency)]
    if beat:
        # Beat's schedule file must be writable; the working folder of a container may not be.
        schedule = Path(tempfile.gettempdir()) / "prunesearch-celerybeat-schedule"
        argv += ["--beat", "--schedule", str(schedule)]
    return argv


def migrate() -> None:
    """Create or upgrade the service's tables in PRUNESEARCH_DATABASE_URL (idempotent)."""
    console = make_console(stderr=True)
    settings = load_settings(console)
    from service.db import migrate as upgrade

    shown = shown_url(settings.database_url)
    with _database_errors(console, shown):
        upgrade(settings.database_url)
    console.print(Text(f"database {shown} is at the latest revision"))


def create_key(
    owner: Annotated[str, typer.Option("--owner", metavar="NAME", help="Who the key is for.")],
) -> None:
    """Create an API key for NAME and print its token: the only time it is shown."""
    console = make_console(stderr=True)
    settings = load_settings(console)
    from service.auth import create_key as make_key
    from service.db import Database

    if not owner.strip():
        fail(console, "--owner: give a name", EXIT_INPUT)
    database = Database(settings.database_url)
    try:
        with _database_errors(console, shown_url(settings.database_url)), database.session() as s:
            token = make_key(s, owner)
    finally:
        database.dispose()
    console.print(Text(f"API key for {owner.strip()} (shown once; store it now):"))
    typer.echo(token)


@contextmanager
def _database_errors(console: Console, shown: str) -> Iterator[None]:
    try:
        yield
    except SQLAlchemyError as exc:
        first = (str(getattr(exc, "orig", None) or exc).splitlines() or ["?"])[0]
        fail(
            console,
            f"database {shown}: {first}",
            EXIT_FAILED,
            hint="is it reachable, and migrated (`prunesearch migrate`)?",
        )
    except ServiceError as exc:
        fail(console, str(exc), EXIT_FAILED)
