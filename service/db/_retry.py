"""Retry a unit of work on transient database errors, with exponential backoff."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from workers import is_transient

__all__ = ["with_retry"]

T = TypeVar("T")
log = logging.getLogger(__name__)


def with_retry(
    work: Callable[[], T],
    *,
    attempts: int = 5,
    base_delay_s: float = 0.1,
    max_delay_s: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``work()`` and return its result, retrying transient errors (see
    :func:`workers.is_transient`) up to ``attempts`` times in all. ``work`` must be a whole
    transaction (open its own session, commit), so a retry starts from a clean state; other
    errors and the last transient one propagate."""
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, got {attempts}")
    retrying = Retrying(
        retry=retry_if_exception(is_transient),
        stop=stop_after_attempt(attempts),
        # Full jitter keeps retrying workers from hammering the database in lockstep.
        wait=wait_random_exponential(multiplier=base_delay_s, max=max_delay_s),
        sleep=sleep,
        before_sleep=_log_attempt(attempts),
        reraise=True,
    )
    return retrying(work)


def _log_attempt(attempts: int) -> Callable[[RetryCallState], None]:
    def log_it(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        log.warning(
            "transient database error (attempt %d/%d): %s", state.attempt_number, attempts, error
        )

    return log_it
