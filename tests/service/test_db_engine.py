"""Engines, sessions and retries on transient database errors."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError

from service.db import Database, make_engine, session_scope, with_retry
from service.models import ApiKey
from workers import is_transient


def test_sqlite_gets_wal_a_busy_timeout_and_foreign_keys(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}", sqlite_busy_timeout_s=2.5)
    try:
        with engine.connect() as connection:
            pragmas = {
                name: connection.execute(text(f"PRAGMA {name}")).scalar()
                for name in ("journal_mode", "busy_timeout", "foreign_keys")
            }
        assert pragmas == {"journal_mode": "wal", "busy_timeout": 2500, "foreign_keys": 1}
    finally:
        engine.dispose()


def test_postgresql_urls_use_psycopg_3() -> None:
    for url in ("postgresql://u@h/db", "postgres://u@h/db", "postgresql+psycopg://u@h/db"):
        engine = make_engine(url)
        assert engine.dialect.driver == "psycopg"
        assert engine.pool._pre_ping
        engine.dispose()


def test_session_scope_commits_or_rolls_back(migrated_url: str) -> None:
    database = Database(migrated_url)
    try:
        with database.session() as session:
            session.add(ApiKey(owner="a", prefix="p", hash="1" * 64))
        with pytest.raises(IntegrityError):
            _add_b_then_a_duplicate(database)
        with session_scope(database.sessions) as session:
            assert [k.owner for k in session.query(ApiKey)] == ["a"]
    finally:
        database.dispose()


def _add_b_then_a_duplicate(database: Database) -> None:
    with database.session() as session:
        session.add(ApiKey(owner="b", prefix="p", hash="2" * 64))
        session.flush()
        session.add(ApiKey(owner="c", prefix="p", hash="1" * 64))  # duplicate hash


def _operational(message: str, orig: Exception | None = None) -> OperationalError:
    return OperationalError("SELECT 1", {}, orig or sqlite3.OperationalError(message))


# Which errors are transient is decided in one place: tests/workers/test_transient.py.


def test_transient_errors_are_retried_with_growing_delays() -> None:
    calls: list[int] = []
    delays: list[float] = []

    def work() -> str:
        calls.append(1)
        if len(calls) < 4:
            raise _operational("database is locked")
        return "done"

    assert with_retry(work, attempts=5, base_delay_s=0.1, sleep=delays.append) == "done"
    assert len(calls) == 4
    assert len(delays) == 3
    assert all(0 <= d <= 0.1 * 2**i for i, d in enumerate(delays))


def test_retries_stop_at_the_limit_and_skip_lasting_errors() -> None:
    attempts: list[int] = []

    def locked() -> None:
        attempts.append(1)
        raise _operational("database is locked")

    with pytest.raises(OperationalError, match="locked"):
        with_retry(locked, attempts=3, sleep=lambda _: None)
    assert len(attempts) == 3

    attempts.clear()

    def broken() -> None:
        attempts.append(1)
        raise _operational("no such table: ps_jobs")

    with pytest.raises(OperationalError, match="no such table"):
        with_retry(broken, attempts=3, sleep=lambda _: None)
    assert len(attempts) == 1


def test_a_real_sqlite_lock_is_transient(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    holder = make_engine(url)
    waiter = make_engine(url, sqlite_busy_timeout_s=0.05)
    try:
        with holder.begin() as connection:
            connection.execute(text("CREATE TABLE t (x INTEGER)"))
        with holder.connect() as connection:
            connection.execute(text("BEGIN IMMEDIATE"))  # hold the write lock
            with pytest.raises(OperationalError) as raised, waiter.begin() as other:
                other.execute(text("INSERT INTO t VALUES (1)"))
            assert is_transient(raised.value)
            connection.execute(text("ROLLBACK"))
    finally:
        holder.dispose()
        waiter.dispose()
