"""Which errors are worth retrying, and for how long: the one rule for the whole project.

A database or broker that is briefly unreachable is transient; anything else (a bug, a bad
spec, an SQL or schema error) is not, and retrying cannot help. The service imports
:func:`is_transient` from here (``workers`` is the lowest layer that needs it), so the API's
database retries, its 503s and the workers' task retries agree.

SQLite raises ``OperationalError`` for schema and SQL errors too ("no such table"): of its
errors, only a locked or busy database is transient. Any other ``OperationalError``
(PostgreSQL: connection refused or lost, server restarting, serialization failure,
deadlock) is.
"""

from __future__ import annotations

import random
import sqlite3
import time
from dataclasses import dataclass

import kombu.exceptions
import psycopg
import redis.exceptions
import sqlalchemy.exc
from tenacity import RetryCallState

_SQLITE_TRANSIENT = ("database is locked", "database table is locked", "busy")

# Retried with exponential backoff until the outage outlasts the workers'
# ``outage_tolerance_s``; anything else fails the job at once. The cap keeps a job from
# idling long after the database or broker is back.
_BACKOFF_BASE_S, _BACKOFF_MAX_S = 2.0, 30.0

_ALWAYS: tuple[type[BaseException], ...] = (
    psycopg.OperationalError,  # raised bare by psycopg, wrapped by SQLAlchemy (see below)
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    kombu.exceptions.OperationalError,
)


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc``, or an error it was raised from, is a passing infrastructure fault.

    The chain is walked because Optuna re-raises SQLAlchemy errors inside its sessions as
    ``StorageInternalError(...) from exc``.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _ALWAYS):
            return True
        if isinstance(current, sqlalchemy.exc.DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, sqlalchemy.exc.OperationalError):
            orig = current.orig
            return not isinstance(orig, sqlite3.Error) or _sqlite_busy(orig)
        if isinstance(current, sqlite3.OperationalError):
            return _sqlite_busy(current)
        current = current.__cause__ or current.__context__
    return False


def _sqlite_busy(exc: sqlite3.Error) -> bool:
    message = str(exc).lower()
    return any(marker in message for marker in _SQLITE_TRANSIENT)


def backoff_s(retries: int) -> float:
    """Seconds before retry number ``retries + 1``: doubling, capped, jittered (within its
    upper half) so that workers which failed together do not hammer the database together."""
    ceiling = min(_BACKOFF_MAX_S, _BACKOFF_BASE_S * 2.0**retries)
    return random.uniform(ceiling / 2, ceiling)


@dataclass
class OutageBound:
    """How long an outage is tolerated, timed from its first transient error (``since``,
    Unix time: Celery carries it from retry to retry, in other processes).

    Also a tenacity ``stop``: called after each failed attempt, true once the outage has
    lasted longer than ``tolerance_s``.
    """

    tolerance_s: float
    since: float | None = None

    def __call__(self, retry_state: RetryCallState | None = None) -> bool:
        now = time.time()
        if self.since is None:
            self.since = now  # the first error of this outage
        return now - self.since > self.tolerance_s
