"""CSV answers of the leaderboard and points routes (``?format=csv``): the same columns as
their JSON items, in the same order, streamed (see :mod:`service.jobs._export`)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi.responses import StreamingResponse

from service.api.insights_schemas import PointOut
from service.api.schemas import CandidateOut
from service.db import Database
from service.jobs import (
    LeaderboardQuery,
    csv_chunks,
    export_filename,
    ordered_candidates,
    points_statement,
    stream_rows,
)
from service.models import Job

__all__ = [
    "CANDIDATE_COLUMNS",
    "CSV_RESPONSE",
    "POINT_COLUMNS",
    "ExportFormat",
    "leaderboard_csv",
    "points_csv",
]

ExportFormat = Literal["json", "csv"]
# A JSON item's keys, in order (fields, then computed ones such as ``score``).
CANDIDATE_COLUMNS: tuple[str, ...] = (
    *CandidateOut.model_fields,
    *CandidateOut.model_computed_fields,
)
POINT_COLUMNS: tuple[str, ...] = tuple(PointOut.model_fields)
CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"text/csv": {"schema": {"type": "string"}}},
        "description": "with format=csv: a header line, then one line per row",
    }
}


def leaderboard_csv(database: Database, job: Job, query: LeaderboardQuery) -> StreamingResponse:
    """Every candidate matching ``query`` (its filters, its order; ``limit``/``offset``
    only when given: the query's own are ignored unless the caller set them)."""
    statement = ordered_candidates(job.id, query)
    if query.offset:
        statement = statement.offset(query.offset)
    if query.limit:
        statement = statement.limit(query.limit)

    def cells(row: Any) -> list[Any]:
        item = CandidateOut.model_validate(row).model_dump(mode="json")
        return [item[name] for name in CANDIDATE_COLUMNS]

    rows = stream_rows(database, statement, scalars=True)
    return _csv(csv_chunks(CANDIDATE_COLUMNS, rows, cells), job, "leaderboard")


def points_csv(database: Database, job: Job) -> StreamingResponse:
    """Every candidate as a point (the JSON's ``points``), by trial number."""

    def cells(row: Any) -> list[Any]:
        item = PointOut.model_validate(dict(row._mapping)).model_dump(mode="json")
        return [item[name] for name in POINT_COLUMNS]

    rows = stream_rows(database, points_statement(job.id), scalars=False)
    return _csv(csv_chunks(POINT_COLUMNS, rows, cells), job, "points")


def _csv(chunks: Any, job: Job, what: str) -> StreamingResponse:
    name = export_filename(job.name, job.id, what, "csv")
    return StreamingResponse(
        chunks,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
