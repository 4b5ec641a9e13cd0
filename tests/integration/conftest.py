"""Real-process fixtures: a PostgreSQL database, a Redis database, the API server (uvicorn)
and Celery worker processes, each started as a subprocess with its output in a log file.

PostgreSQL and Redis are required: if either cannot be reached the tests fail with a message
(CI starts both with ``bash .ci/services``); they never skip. Every wait is bounded and says
what it waited for; a failing test prints the tails of the process logs.

Scopes: one database (migrated) and one Redis database per session, flushed at the start and
the end; one API server per session; two workers per module (``module_workers``), or a
pool of one test's own (``worker_pool``) where the test kills them.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Generator, Iterator

import pytest
import redis

from tests.integration.processes import (
    EXECUTION_ENV,
    Api,
    Stack,
    WorkerPool,
    start_api,
    wait_for,
)
from tests.postgres import throwaway_database

# A database number of its own: the fixture flushes it.
REDIS_URL = os.environ.get("PRUNESEARCH_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
REDIS_LOCK = "prunesearch-tests:integration-session"
REDIS_LOCK_TTL_S = 1200  # longer than a whole run of the suite


# --- services ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database, migrated, dropped at the end of the session."""
    from service.db import migrate

    with throwaway_database("ps_it") as url:
        migrate(url)
        yield url


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """The suite's own Redis database, empty at the start and emptied at the end.

    Every worker of a session takes tasks from the same queue (``cpu``), so two sessions on
    one Redis database would run each other's tasks: a lock key makes a second session wait
    for the first (bounded, with a message), and expires if its holder died.
    """
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(
            f"Redis is not reachable at {REDIS_URL}: {exc}. Start it (bash .ci/services) "
            "or point PRUNESEARCH_TEST_REDIS_URL at one (a database the tests may flush)."
        )
    token = uuid.uuid4().hex
    wait_for(
        lambda: client.set(REDIS_LOCK, token, nx=True, ex=REDIS_LOCK_TTL_S),
        timeout=REDIS_LOCK_TTL_S,
        interval=2.0,
        what=f"another test session to release {REDIS_URL} (key {REDIS_LOCK})",
    )
    _empty(client)
    try:
        yield REDIS_URL
    finally:
        with contextlib.suppress(redis.RedisError):
            _empty(client)
            if client.get(REDIS_LOCK) == token.encode():
                client.delete(REDIS_LOCK)
        client.close()


def _empty(client: redis.Redis) -> None:
    """Delete every key but the lock (what FLUSHDB would do to the queues and bindings)."""
    keys = [key for key in client.scan_iter(count=1000) if key != REDIS_LOCK.encode()]
    if keys:
        client.delete(*keys)


@pytest.fixture(scope="session")
def stack(postgres_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Stack:
    root = tmp_path_factory.mktemp("stack")
    env = {
        **EXECUTION_ENV,
        "PRUNESEARCH_DATABASE_URL": postgres_url,
        "PRUNESEARCH_BROKER_URL": redis_url,
        "PRUNESEARCH_ARTIFACT_DIR": str(root / "artifacts"),
    }
    return Stack(postgres_url, redis_url, root / "artifacts", root / "logs", env)


@pytest.fixture(scope="session")
def api(stack: Stack) -> Iterator[Api]:
    """The API server (uvicorn, the real app factory, settings from the environment)."""
    with start_api(stack) as server:
        yield server


@pytest.fixture(scope="session")
def make_key(postgres_url: str) -> Iterator[Callable[[str], dict[str, str]]]:
    """``make_key(owner)``: a new API key in the database, as request headers."""
    from service.auth import create_key
    from service.db import Database

    database = Database(postgres_url)

    def make(owner: str) -> dict[str, str]:
        with database.session() as session:
            token = create_key(session, owner)
        return {"Authorization": f"Bearer {token}"}

    yield make
    database.dispose()


# --- workers ------------------------------------------------------------------------------


@pytest.fixture
def worker_pool(stack: Stack) -> Iterator[WorkerPool]:
    """Workers for one test (a test that kills them gets fresh ones next time)."""
    pool = WorkerPool(stack, label=f"t{uuid.uuid4().hex[:6]}")
    yield pool
    pool.close()


@pytest.fixture(scope="module")
def module_workers(stack: Stack) -> Iterator[WorkerPool]:
    """Two workers shared by the tests of one module."""
    pool = WorkerPool(stack, label=f"m{uuid.uuid4().hex[:6]}")
    try:
        pool.start(2)
        yield pool
    finally:
        pool.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failing integration test shows the tails of the process logs."""
    report: pytest.TestReport = yield
    if report.failed and call.when in ("setup", "call"):
        stack = getattr(item, "funcargs", {}).get("stack")
        if isinstance(stack, Stack):
            report.sections.append(("process logs", stack.tails()))
    return report
