"""Which errors are worth retrying: a database or broker that is briefly unreachable."""

from __future__ import annotations

import random
import time

import kombu.exceptions
import redis.exceptions
import sqlalchemy.exc

# Retried with exponential backoff until the outage outlasts the workers'
# ``outage_tolerance_s``; anything else fails the job at once. The cap keeps a job from
# idling long after the database or broker is back.
_BACKOFF_BASE_S, _BACKOFF_MAX_S = 2.0, 30.0

_ALWAYS: tuple[type[BaseException], ...] = (
    sqlalchemy.exc.OperationalError,  # connection refused or lost, server restarting, locked
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
        current = current.__cause__ or current.__context__
    return False


def backoff_s(retries: int) -> float:
    """Seconds before retry number ``retries + 1``: doubling, capped, with full jitter so
    that workers which failed together do not hammer the database together."""
    ceiling = min(_BACKOFF_MAX_S, _BACKOFF_BASE_S * 2.0**retries)
    return random.uniform(ceiling / 2, ceiling)


def outage_outlasted(since: float, tolerance_s: float, now: float | None = None) -> bool:
    """Whether an outage first seen at ``since`` (Unix time: retries run in other
    processes) has lasted longer than ``tolerance_s``."""
    return (time.time() if now is None else now) - since > tolerance_s
