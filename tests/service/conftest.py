"""Database fixtures: every database test runs on SQLite and on a real PostgreSQL.

PostgreSQL is required, not optional: if it cannot be reached the tests fail (CI starts
it). One database, uniquely named, is created per test session and dropped at the end;
each test starts from an empty ``public`` schema in it.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from service.db import make_engine, make_session_factory, migrate

POSTGRES_ADMIN_URL = os.environ.get(
    "PRUNESEARCH_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def _admin_engine(database: str | None = None) -> Engine:
    url = make_url(POSTGRES_ADMIN_URL)
    if database is not None:
        url = url.set(database=database)
    return create_engine(url, isolation_level="AUTOCOMMIT", poolclass=None)


# A killed session cannot drop its database; the next one drops those this old and unused.
_STALE_AFTER_S = 6 * 3600


def _drop_stale_databases(connection: Connection) -> None:
    names = connection.scalars(
        text(
            "SELECT datname FROM pg_database d WHERE datname LIKE 'ps\\_test\\_%' AND NOT "
            "EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname)"
        )
    )
    for name in list(names):
        stamp = name.split("_")[2]
        if stamp.isdigit() and time.time() - int(stamp) > _STALE_AFTER_S:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped afterwards."""
    name = f"ps_test_{int(time.time())}_{uuid.uuid4().hex[:8]}"
    admin = _admin_engine()
    try:
        with admin.connect() as connection:
            _drop_stale_databases(connection)
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        admin.dispose()
        pytest.fail(
            f"PostgreSQL is not reachable at {make_url(POSTGRES_ADMIN_URL)!r}: {exc.orig}. "
            "Start it, or point PRUNESEARCH_TEST_POSTGRES_URL at one."
        )
    url = make_url(POSTGRES_ADMIN_URL).set(database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _reset_postgres(url: str) -> None:
    # Leftover connections (a test's Optuna engine) would block DROP SCHEMA: end them first.
    engine = _admin_engine(make_url(url).database)
    with engine.connect() as connection:
        connection.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: a temporary SQLite file, or the session's PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'prunesearch.db'}"
    url: str = request.getfixturevalue("postgres_url")
    _reset_postgres(url)
    return url


@pytest.fixture
def migrated_url(db_url: str) -> str:
    migrate(db_url)
    return db_url


@pytest.fixture
def engine(migrated_url: str) -> Iterator[Engine]:
    engine = make_engine(migrated_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with make_session_factory(engine)() as session:
        yield session
        session.rollback()
