"""The Celery worker entry point: ``celery -A service.worker:celery_app worker -Q cpu``.

``workers`` cannot import ``service`` (layers point downwards), so this module, which
can, builds the job store from the settings and hands it to the tasks before Celery
starts. ``prunesearch worker`` runs the same app.
"""

from __future__ import annotations

from typing import Any

from celery import Celery, signals

from service._logging import configure_logging
from service.jobs import make_store, worker_options
from service.settings import get_settings
from workers import configure, make_celery

__all__ = ["celery_app", "make_worker_app"]


def make_worker_app() -> Celery:
    settings = get_settings()
    if settings.broker_url is None:
        raise RuntimeError(
            "PRUNESEARCH_BROKER_URL is not set: Celery workers need a broker "
            "(without one, the API runs jobs itself in embedded mode)"
        )
    options = worker_options(settings)

    def setup_logging(**_: Any) -> None:
        # A receiver here means Celery leaves the root logger to us (text or JSON lines).
        configure_logging(settings)

    signals.setup_logging.connect(setup_logging, weak=False, dispatch_uid="prunesearch-logging")
    # The store is built lazily in each pool process, after the fork.
    configure(lambda: make_store(settings), options)
    return make_celery(options)


celery_app = make_worker_app()
