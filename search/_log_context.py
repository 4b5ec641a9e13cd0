"""What a log line is about: the job and the trial, carried in context variables.

The workers set the job id around each task, the search sets the trial number around each
trial; :class:`LogContextFilter` copies both onto every record (``None`` where unknown), so
any handler, text or JSON, can show them. Context variables follow the code that runs, not
the thread a handler lives on, and a nested context restores the outer one on exit.

>>> with log_context(job_id="4f2a"):
...     with log_context(trial_number=3):
...         log.info("trial started")        # record.job_id == "4f2a", record.trial_number == 3
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from contextvars import ContextVar

__all__ = ["LogContextFilter", "current_log_context", "log_context"]

_JOB_ID: ContextVar[str | None] = ContextVar("prunesearch_job_id", default=None)
_TRIAL_NUMBER: ContextVar[int | None] = ContextVar("prunesearch_trial_number", default=None)


@contextmanager
def log_context(*, job_id: str | None = None, trial_number: int | None = None) -> Iterator[None]:
    """Within the block, log records carry ``job_id`` and/or ``trial_number`` (an argument
    left ``None`` keeps what an outer block set)."""
    with ExitStack() as stack:
        if job_id is not None:
            token = _JOB_ID.set(job_id)
            stack.callback(_JOB_ID.reset, token)
        if trial_number is not None:
            trial_token = _TRIAL_NUMBER.set(int(trial_number))
            stack.callback(_TRIAL_NUMBER.reset, trial_token)
        yield


def current_log_context() -> dict[str, str | int | None]:
    """The job id and trial number set here now (``None`` where none is)."""
    return {"job_id": _JOB_ID.get(), "trial_number": _TRIAL_NUMBER.get()}


class LogContextFilter(logging.Filter):
    """Adds ``job_id`` and ``trial_number`` to every record it sees; never drops one.

    Attach it to a handler (not a logger): a handler's filters see the records of every
    logger that propagates to it.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in current_log_context().items():
            if getattr(record, name, None) is None:
                setattr(record, name, value)
        return True
