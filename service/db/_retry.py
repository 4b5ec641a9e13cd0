"""Retry a unit of work on transient database errors, with exponential backoff."""

from __future__ import annotations

import logging
import random
import sqlite3
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, OperationalError

__all__ = ["is_transient", "with_retry"]

T = TypeVar("T")
log = logging.getLogger(__name__)

# SQLite reports schema and SQL errors as OperationalError too; only these mean "try again".
_SQLITE_TRANSIENT = ("database is locked", "database table is locked", "busy")


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` may go away on retry: a dropped connection, a locked SQLite file,
    or a PostgreSQL operational error (serialization failure, deadlock, restart)."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if not isinstance(exc, OperationalError):
        return False
    if isinstance(exc.orig, sqlite3.Error):
        message = str(exc.orig).lower()
        return any(marker in message for marker in _SQLITE_TRANSIENT)
    return True


def with_retry(
    work: Callable[[], T],
    *,
    attempts: int = 5,
    base_delay_s: float = 0.1,
    max_delay_s: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``work()`` and return its result, retrying transient errors up to ``attempts``
    times in all. ``work`` must be a whole transaction (open its own session, commit), so a
    retry starts from a clean state; other errors and the last transient one propagate."""
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, got {attempts}")
    for attempt in range(attempts):
        try:
            return work()
        except DBAPIError as exc:
            if attempt + 1 >= attempts or not is_transient(exc):
                raise
            # Full jitter keeps retrying workers from hammering the database in lockstep.
            delay = random.uniform(0, min(max_delay_s, base_delay_s * 2**attempt))
            log.warning("transient database error (attempt %d/%d): %s", attempt + 1, attempts, exc)
            sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover
