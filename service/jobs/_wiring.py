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
    return WorkerOptions(
        slice_trials=settings.slice_trials,
        slice_seconds=settings.slice_seconds,
        allowed_factories=tuple(settings.allowed_factories),
        stale_after_s=settings.stale_after_s,
        broker_url=settings.broker_url,
        visibility_timeout_s=settings.visibility_timeout_s,
        task_time_limit_s=settings.task_time_limit_s,
        # A trial silent for a few heartbeats is failed and retried.
        trial_heartbeat_s=settings.heartbeat_interval_s,
        trial_grace_s=settings.trial_grace_s or max(60, 4 * settings.heartbeat_interval_s),
        worker_heartbeat_s=settings.worker_heartbeat_s,
        sweep_every_s=float(settings.sweep_interval_s),
        max_parallelism=settings.max_parallelism,
        outage_tolerance_s=settings.outage_tolerance_s,
    )


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
