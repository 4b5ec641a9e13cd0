"""Throwaway PostgreSQL databases for the tests, one helper for every test package.

PostgreSQL is required, not optional: if it cannot be reached the test fails with what to
do (CI starts it). Each database is uniquely named ``<prefix>_<unix time>_<random>`` and
dropped on exit; a killed session cannot drop its own, so each new one drops those of its
prefix that are old and unused.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

__all__ = ["POSTGRES_ADMIN_URL", "admin_engine", "throwaway_database"]

POSTGRES_ADMIN_URL = os.environ.get(
    "PRUNESEARCH_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
_STALE_AFTER_S = 6 * 3600


def admin_engine(database: str | None = None) -> Engine:
    """An autocommit engine on the admin URL's server (its database, or ``database``)."""
    url = make_url(POSTGRES_ADMIN_URL)
    if database is not None:
        url = url.set(database=database)
    return create_engine(url, isolation_level="AUTOCOMMIT")


@contextmanager
def throwaway_database(prefix: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database named after ``prefix`` (letters and one
    underscore, e.g. ``ps_test``); its URL, dropped on exit."""
    name = f"{prefix}_{int(time.time())}_{uuid.uuid4().hex[:8]}"
    admin = admin_engine()
    try:
        with admin.connect() as connection:
            _drop_stale_databases(connection, prefix)
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        admin.dispose()
        pytest.fail(
            f"PostgreSQL is not reachable at {make_url(POSTGRES_ADMIN_URL)!r}: {exc.orig}. "
            "Start it (bash .ci/services) or point PRUNESEARCH_TEST_POSTGRES_URL at one."
        )
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _drop_stale_databases(connection: Connection, prefix: str) -> None:
    pattern = prefix.replace("_", "\\_") + "\\_%"
    names = connection.scalars(
        text(
            "SELECT datname FROM pg_database d WHERE datname LIKE :pattern AND NOT "
            "EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname)"
        ),
        {"pattern": pattern},
    )
    for name in list(names):
        stamp = name.removeprefix(f"{prefix}_").split("_")[0]
        if stamp.isdigit() and time.time() - int(stamp) > _STALE_AFTER_S:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
