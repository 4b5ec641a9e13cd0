"""From settings to execution: worker options, the job store, and the dispatcher.

No broker configured: embedded, the task functions run in a thread pool in this process.
A broker: tasks go to Celery workers (``prunesearch worker``) through it.
"""

from __future__ import annotations

from collections.abc import Callable

from service.artifacts import ArtifactStore
from service.db import Database
from service.jobs._store import SqlJobStore
from service.settings import Settings
from workers import CeleryDispatcher, Dispatcher, EmbeddedDispatcher, WorkerOptions, make_celery

__all__ = ["make_dispatcher", "make_store", "worker_options"]


def worker_options(settings: Settings) -> WorkerOptions:
    """The workers' options from the service's settings (API and workers read the same)."""
    return settings.worker_options()


def make_store(settings: Settings, database: Database | None = None) -> SqlJobStore:
    """A job store over ``database`` (default: a new one for the settings' URL)."""
    return SqlJobStore(
        database or Database(settings.database_url), ArtifactStore(settings.artifact_dir)
    )


def make_dispatcher(
    settings: Settings, database: Database, artifacts: ArtifactStore
) -> tuple[Dispatcher, Callable[[], None]]:
    """The dispatcher the settings call for, and how to close it at shutdown."""
    options = worker_options(settings)
    if settings.embedded:
        embedded = EmbeddedDispatcher(
            SqlJobStore(database, artifacts),
            options,
            max_workers=settings.embedded_workers,
            sweep_every_s=options.sweep_every_s,
        )
        # The running slice ends within slice_seconds; queued tasks are dropped, and the
        # sweeper of the next start resumes their jobs.
        return embedded, lambda: embedded.shutdown(wait=True)
    app = make_celery(options)
    return CeleryDispatcher(app), app.close
