"""The one transient-error rule (``workers.is_transient``), on real exceptions of each kind.

The service's database retries and 503s use the same rule, so it is tested here once.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import kombu.exceptions
import optuna
import psycopg
import pytest
import redis
import redis.exceptions
import sqlalchemy
import sqlalchemy.exc
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

import workers._transient as transient_module
from workers import is_transient
from workers._transient import OutageBound

# Nothing listens on port 1: connecting fails at once, as with a server that is down.
_CLOSED_PORT = 1


def _raised(action: Callable[[], object]) -> BaseException:
    try:
        action()
    except BaseException as exc:
        return exc
    raise AssertionError("expected an error")


def _psycopg_refused() -> BaseException:
    return _raised(lambda: psycopg.connect(f"host=127.0.0.1 port={_CLOSED_PORT} connect_timeout=2"))


def _sqlalchemy_refused() -> BaseException:
    engine = sqlalchemy.create_engine(f"postgresql+psycopg://u@127.0.0.1:{_CLOSED_PORT}/x")
    try:
        return _raised(engine.connect)
    finally:
        engine.dispose()


def _redis_refused() -> BaseException:
    return _raised(redis.Redis(host="127.0.0.1", port=_CLOSED_PORT, socket_timeout=2).ping)


def _optuna_wrapped(error: BaseException) -> BaseException:
    # What Optuna raises when the database fails inside one of its sessions.
    def wrap() -> None:
        raise optuna.exceptions.StorageInternalError("commit failed") from error

    return _raised(wrap)


def _sqlite(tmp_path: Path, sql: str) -> BaseException:
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE IF NOT EXISTS t (x INTEGER PRIMARY KEY)"))
            connection.execute(text("INSERT OR IGNORE INTO t VALUES (1)"))
        with engine.begin() as connection:
            return _raised(lambda: connection.execute(text(sql)))
    finally:
        engine.dispose()


def _sqlite_locked(tmp_path: Path) -> BaseException:
    path = tmp_path / "locked.db"
    holder = sqlite3.connect(path, isolation_level=None)
    waiter = sqlite3.connect(path, timeout=0.01)
    try:
        holder.execute("CREATE TABLE t (x INTEGER)")
        holder.execute("BEGIN IMMEDIATE")  # hold the write lock
        return _raised(lambda: waiter.execute("INSERT INTO t VALUES (1)"))
    finally:
        holder.close()
        waiter.close()


def _operational(message: str, orig: Exception | None = None) -> OperationalError:
    return OperationalError("SELECT 1", {}, orig or sqlite3.OperationalError(message))


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (_operational("database is locked"), True),
        (_operational("no such table: ps_jobs"), False),
        (_operational("x", Exception("server closed the connection unexpectedly")), True),
        (DBAPIError("SELECT 1", {}, Exception("gone"), connection_invalidated=True), True),
        (IntegrityError("INSERT", {}, Exception("duplicate key")), False),
        (ValueError("not a database error"), False),
    ],
)
def test_transient_errors_are_recognised(error: BaseException, transient: bool) -> None:
    assert is_transient(error) is transient


@pytest.mark.parametrize(
    ("make", "transient"),
    [
        pytest.param(_psycopg_refused, True, id="psycopg-connection-refused"),
        pytest.param(_sqlalchemy_refused, True, id="sqlalchemy-postgresql-refused"),
        pytest.param(lambda: _optuna_wrapped(_sqlalchemy_refused()), True, id="optuna-wrapped"),
        pytest.param(_redis_refused, True, id="redis-connection-refused"),
        pytest.param(redis.exceptions.TimeoutError, True, id="redis-timeout"),
        pytest.param(
            lambda: kombu.exceptions.OperationalError("broker gone"), True, id="kombu-operational"
        ),
        pytest.param(lambda: ValueError("bad spec"), False, id="value-error"),
        pytest.param(lambda: KeyError("job"), False, id="key-error"),
    ],
)
def test_real_errors_are_classified(make: Callable[[], BaseException], transient: bool) -> None:
    assert is_transient(make()) is transient


def test_sqlite_is_transient_only_when_locked_or_busy(tmp_path: Path) -> None:
    locked = _sqlite_locked(tmp_path)
    assert isinstance(locked, sqlite3.OperationalError) and "locked" in str(locked)
    assert is_transient(locked)

    missing = _sqlite(tmp_path, "SELECT * FROM nowhere")
    assert isinstance(missing, sqlalchemy.exc.OperationalError)  # SQLite says so for SQL errors
    assert not is_transient(missing)
    assert not is_transient(_optuna_wrapped(missing))

    duplicate = _sqlite(tmp_path, "INSERT INTO t VALUES (1)")
    assert isinstance(duplicate, sqlalchemy.exc.IntegrityError)
    assert not is_transient(duplicate)

    syntax = _sqlite(tmp_path, "SELEKT 1")
    assert not is_transient(syntax)


def test_a_programming_error_on_postgresql_is_not_transient() -> None:
    error = sqlalchemy.exc.ProgrammingError(
        "SELECT nope", {}, psycopg.errors.UndefinedTable("relation does not exist")
    )
    assert not is_transient(error)
    serialization = sqlalchemy.exc.OperationalError(
        "UPDATE", {}, psycopg.errors.SerializationFailure("could not serialize")
    )
    assert is_transient(serialization)


def test_an_outage_is_timed_from_its_first_error(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]

    class Clock:
        @staticmethod
        def time() -> float:
            return now[0]

    monkeypatch.setattr(transient_module, "time", Clock)
    bound = OutageBound(tolerance_s=30.0)

    assert not bound() and bound.since == 100.0
    now[0] = 130.0
    assert not bound()
    now[0] = 130.5
    assert bound()
    assert OutageBound(tolerance_s=30.0, since=50.0)()  # carried from an earlier retry
