"""The FastAPI application: ``create_app(settings)`` builds it; its lifespan wires execution.

>>> app = create_app()                      # settings from PRUNESEARCH_* variables
>>> uvicorn.run(app, host=settings.host, port=settings.port)

At startup the lifespan makes the app's state, all of it: the database, the artifact
store, the dispatcher (no broker configured means embedded: the worker task functions run
in a thread pool in this process, against the same database; a broker means Celery
workers), the metrics registry, the Optuna study storages (one per URL, shared by the
insights routes and the dashboard), the importance cache and the dashboards' apps; at
shutdown it closes what holds connections.
Migrations are not run here: ``prunesearch migrate`` (or the compose file's api service)
does that before the server starts, and /readyz reports a schema that is behind.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from starlette.concurrency import run_in_threadpool

from service.api import api_router, install_error_handler, root_router
from service.api.exposure import refuse_if_exposed
from service.api.metrics import make_registry
from service.api.openapi import install_openapi
from service.artifacts import ArtifactStore
from service.db import Database
from service.exceptions import InsecureSettings
from service.jobs import ImportanceCache, StudyStorages, make_dispatcher
from service.settings import Settings, get_settings, is_loopback
from service.ui import DASHBOARDS_KEPT, Dashboards, ui_router
from workers import Dispatcher

__all__ = ["InsecureSettings", "check_exposure", "create_app"]

log = logging.getLogger(__name__)

_DESCRIPTION = (
    "Searches per-layer pruning policies for a PyTorch model within a budget (parameters, "
    "MACs, latency): upload weights and data, submit a job spec, follow its leaderboard, "
    "download the best pruned model. Authenticate with `Authorization: Bearer <API key>`."
)


def create_app(
    settings: Settings | None = None, *, dispatcher: Dispatcher | None = None
) -> FastAPI:
    """The API for ``settings`` (default: :func:`get_settings`).

    ``dispatcher`` replaces the one the settings call for (tests record what is queued).

    Raises:
        InsecureSettings: auth is off but the server is not an embedded, loopback-bound run.
    """
    settings = settings or get_settings()
    check_exposure(settings)
    app = FastAPI(
        title="prunesearch",
        version="0.1.0",
        description=_DESCRIPTION,
        lifespan=_lifespan,
        # Auth off: every request checks the address actually bound (uvicorn's --host
        # never reaches the settings).
        dependencies=[] if settings.auth else [Depends(refuse_if_exposed)],
    )
    app.state.settings = settings
    app.state.dispatcher_override = dispatcher
    install_error_handler(app)
    install_openapi(app)
    app.include_router(root_router)
    app.include_router(api_router)
    app.include_router(ui_router)
    return app


def check_exposure(settings: Settings) -> None:
    """Refuse auth off anywhere but an embedded run bound to loopback.

    :class:`Settings` checks this too, but settings can be copied without validation
    (``model_copy(update=...)``): the app checks again, as the last line.
    """
    if settings.auth:
        return
    if settings.broker_url is not None or not is_loopback(settings.host):
        raise InsecureSettings(
            "refusing to start with auth off: that is allowed only for an embedded run "
            "(PRUNESEARCH_BROKER_URL unset) bound to loopback (PRUNESEARCH_HOST=127.0.0.1); "
            f"got host={settings.host!r}, broker {'set' if settings.broker_url else 'unset'}. "
            "Turn auth on (PRUNESEARCH_AUTH=true) and create keys with `prunesearch keys create`"
        )


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    database = Database(settings.database_url)
    artifacts = ArtifactStore(settings.artifact_dir)
    app.state.database = database
    app.state.artifacts = artifacts
    close: Callable[[], None] = _nothing
    override: Dispatcher | None = app.state.dispatcher_override
    if override is None:
        app.state.dispatcher, close = make_dispatcher(settings, database, artifacts)
    else:
        app.state.dispatcher = override
    app.state.registry = make_registry(
        database,
        broker_url=settings.broker_url,
        dispatcher=app.state.dispatcher,
        heartbeat_s=settings.worker_heartbeat_s,
    )
    storages = StudyStorages(database.engine.url.render_as_string(hide_password=False))
    app.state.study_storages = storages
    app.state.importance_cache = ImportanceCache()
    app.state.optuna_dashboards = Dashboards(size=DASHBOARDS_KEPT)
    # Everything imported by now (torch included: the API imports the search stack) lives
    # as long as the process: keep it out of the collector's full passes, which otherwise
    # walk ~360,000 objects (~170 ms) whenever a large answer triggers one.
    gc.collect()
    gc.freeze()
    mode = "embedded" if settings.embedded else "celery"
    log.info("prunesearch API up: %s execution, auth %s", mode, "on" if settings.auth else "off")
    try:
        yield
    finally:
        await run_in_threadpool(close)
        storages.close()
        database.dispose()


def _nothing() -> None:
    return None
