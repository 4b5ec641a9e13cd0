"""Engines and sessions for one database URL (SQLite or PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from service.settings import normalize_database_url

__all__ = ["make_engine", "make_session_factory", "session_scope"]


def make_engine(url: str, *, sqlite_busy_timeout_s: float = 30.0, **kwargs: Any) -> Engine:
    """An engine for ``url`` that survives dropped connections (``pool_pre_ping``).

    SQLite gets what concurrent threads need: connections shared across threads, WAL (readers
    never block the one writer), a busy timeout (a second writer waits instead of failing at
    once) and foreign keys, which SQLite leaves off by default.
    """
    url = normalize_database_url(url)
    options: dict[str, Any] = {"pool_pre_ping": True, **kwargs}
    sqlite = make_url(url).get_backend_name() == "sqlite"
    if sqlite:
        options.setdefault("connect_args", {})["check_same_thread"] = False
        if make_url(url).database in (None, "", ":memory:"):
            # One shared connection, or every checkout would see a fresh empty database.
            options.setdefault("poolclass", StaticPool)
    engine = create_engine(url, **options)
    if sqlite:
        _configure_sqlite(engine, int(sqlite_busy_timeout_s * 1000))
    return engine


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms:d}")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose objects stay readable after commit (handed to responses and tasks)."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit when the block ends, roll back if it raises, always close."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
