"""One process-wide handle on the database: the engine and its session factory."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from service.db._engine import make_engine, make_session_factory, session_scope

__all__ = ["Database"]


class Database:
    """An engine and its sessions for one URL; ``dispose()`` closes the pool."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.engine: Engine = make_engine(url, **engine_kwargs)
        self.sessions: sessionmaker[Session] = make_session_factory(self.engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work, committed on success (see :func:`session_scope`)."""
        with session_scope(self.sessions) as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
