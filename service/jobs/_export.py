"""Leaderboards and points as CSV, streamed: rows are read with a server-side cursor
(``yield_per``) in a session of the export's own and encoded a batch at a time, so a job
with any number of candidates is sent without ever holding its table in memory.

The session is the generator's own because the response body is produced after the
route has returned (and its request session may be gone).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import Select

from service.db import Database
from service.jobs._downloads import safe_stem

__all__ = ["EXPORT_BATCH", "csv_cell", "csv_chunks", "export_filename", "stream_rows"]

EXPORT_BATCH = 1000  # rows fetched (and encoded) per round trip


def stream_rows(
    database: Database, statement: Select[Any], *, scalars: bool, batch: int = EXPORT_BATCH
) -> Iterator[Any]:
    """The rows of ``statement`` (ORM objects when ``scalars``), ``batch`` at a time from
    a server-side cursor, in a read-only session closed when the iteration ends."""
    streamed = statement.execution_options(yield_per=batch, stream_results=True)
    with database.sessions() as session:
        result = session.scalars(streamed) if scalars else session.execute(streamed)
        yield from result


def csv_cell(value: Any) -> str | int | float:
    """A JSON value as one CSV cell: empty for null, true/false, objects as compact JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    if isinstance(value, int | float | str):
        return value
    return str(value)


def csv_chunks(
    header: Sequence[str],
    rows: Iterable[Any],
    to_cells: Callable[[Any], Sequence[Any]],
    *,
    batch: int = EXPORT_BATCH,
) -> Iterator[bytes]:
    """``header`` then one line per row (``to_cells(row)``: JSON values, in header order),
    UTF-8 and RFC 4180 quoted, yielded ``batch`` lines at a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    pending = 1
    for row in rows:
        writer.writerow([csv_cell(value) for value in to_cells(row)])
        pending += 1
        if pending >= batch:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    if pending or buffer.tell():
        yield buffer.getvalue().encode()


def export_filename(job_name: str, job_id: str, what: str, extension: str) -> str:
    """``<name>-<id prefix>-<what>.<extension>``: safe in a Content-Disposition header."""
    return f"{safe_stem(job_name)}-{job_id[:8]}-{what}.{extension}"
