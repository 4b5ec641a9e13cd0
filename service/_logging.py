"""Logging for every process of the service: ``configure_logging(settings)``.

One handler on the root logger, writing to stderr, as text (default) or JSON lines
(``PRUNESEARCH_LOG_FORMAT=json``), at ``PRUNESEARCH_LOG_LEVEL``. Each line carries the job
id and the trial number whenever the code that logged it knows them: the workers set the
job id around each task and the search sets the trial number around each trial
(:func:`search.log_context`); the handler's :class:`search.LogContextFilter` copies them
onto the record. ``prunesearch serve``, ``prunesearch worker`` and the Celery worker
processes (through Celery's ``setup_logging`` signal) all call it; calling it again
replaces the handler it installed, so it never doubles lines.

A JSON line::

    {"timestamp": "2026-11-23T12:00:00.123456+00:00", "level": "INFO",
     "logger": "search.trials", "message": "trial 3 finished: complete in 2.10 s ...",
     "job_id": "4f2a...", "trial_number": 3}
"""

from __future__ import annotations

import logging
import sys
from typing import IO, Any, TextIO

import optuna
from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from search import LogContextFilter
from service.settings import Settings

__all__ = ["ContextJsonFormatter", "ContextTextFormatter", "configure_logging"]

CONTEXT_FIELDS = ("job_id", "trial_number")
_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s%(context)s: %(message)s"
# Marks the handler this module installed, so a second call replaces it.
_MARK = "_prunesearch_handler"


class ContextTextFormatter(logging.Formatter):
    """``time LEVEL logger [job=... trial=...]: message``; the brackets only where known."""

    def __init__(self) -> None:
        super().__init__(_TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        parts = [
            f"{label}={value}"
            for label, value in (
                ("job", getattr(record, "job_id", None)),
                ("trial", getattr(record, "trial_number", None)),
            )
            if value is not None
        ]
        record.context = f" [{' '.join(parts)}]" if parts else ""
        return super().format(record)


class ContextJsonFormatter(JsonFormatter):
    """One JSON object per line: timestamp (UTC, ISO 8601), level, logger, message, the
    job id and trial number where known, any ``extra=`` fields, and the traceback."""

    def __init__(self) -> None:
        super().__init__(
            "{levelname}{name}{message}",
            style="{",
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp=True,
            reserved_attrs=[*RESERVED_ATTRS, "context", "color_message", "taskName"],
        )

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        # Unknown context is left out rather than written as null on every line.
        for name in CONTEXT_FIELDS:
            if log_data.get(name, 0) is None:
                del log_data[name]
        return log_data


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is at the time of each record, not the one it was
    made with: a caller that swaps stderr (a test runner, a CLI runner) and closes its
    replacement later must not leave the root logger writing to a closed file."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _: TextIO) -> None:
        return None


def configure_logging(settings: Settings, *, stream: IO[str] | None = None) -> logging.Handler:
    """Send every logger's records to ``stream`` (stderr) in the settings' format and level.

    Returns the handler installed on the root logger (tests read what it wrote).
    """
    handler = _StderrHandler() if stream is None else logging.StreamHandler(stream)
    handler.addFilter(LogContextFilter())
    handler.setFormatter(
        ContextJsonFormatter() if settings.log_format == "json" else ContextTextFormatter()
    )
    setattr(handler, _MARK, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _MARK, False)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    if settings.log_format == "json":
        # Optuna writes to its own stderr handler; its lines ("Trial 3 finished ...") go
        # through ours instead, so that the stream is JSON throughout.
        optuna.logging.disable_default_handler()
        optuna.logging.enable_propagation()
    return handler
