"""Several of an owner's jobs side by side (GET /v1/compare): which jobs, and each one's
Pareto front at the furthest stage its candidates reached."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.exceptions import FieldError
from service.jobs._insights import points_statement
from service.jobs._leaderboard import FIDELITY_LEVEL
from service.models import Candidate, Job, get_owned

__all__ = ["MAX_COMPARED", "MIN_COMPARED", "compared_jobs", "job_ids", "model_label", "pareto_rows"]

MIN_COMPARED = 2
MAX_COMPARED = 10


def job_ids(raw: str) -> list[str]:
    """The ids of ``jobs=a,b,...`` (blanks around commas ignored).

    Raises:
        FieldError: fewer than 2, more than 10, or an id given twice (422 naming ``jobs``).
    """
    ids = [part.strip() for part in raw.split(",") if part.strip()]
    if len(ids) < MIN_COMPARED:
        raise FieldError(
            f"give at least {MIN_COMPARED} job ids to compare, comma-separated (got {len(ids)})",
            field="jobs",
        )
    if len(ids) > MAX_COMPARED:
        raise FieldError(
            f"at most {MAX_COMPARED} jobs can be compared at once (got {len(ids)})", field="jobs"
        )
    repeated = sorted({job_id for job_id in ids if ids.count(job_id) > 1})
    if repeated:
        raise FieldError(f"job {repeated[0]!r} is given more than once", field="jobs")
    return ids


def compared_jobs(session: Session, owner: str, ids: Sequence[str]) -> list[Job]:
    """The jobs ``ids`` of ``owner``, in the order given.

    Raises:
        NotFound: one of them is missing or another owner's (the message names it).
    """
    return [get_owned(session, Job, job_id, owner) for job_id in ids]


def pareto_rows(session: Session, job_id: str) -> tuple[str | None, list[Any]]:
    """The fidelity of ``job_id``'s Pareto front and its points (rows as
    :func:`point_rows`'s, by trial number): the candidates flagged ``pareto`` at the
    furthest stage any of them reached (``final`` once the finals ran). (None, []) while
    no candidate is on a front."""
    flagged = (Candidate.job_id == job_id, Candidate.pareto.is_(True))
    level = session.scalar(select(func.max(FIDELITY_LEVEL)).where(*flagged))
    if level is None:
        return None, []
    at_level = FIDELITY_LEVEL == level  # noqa: SIM300 (a SQL expression, not a constant)
    rows = session.execute(points_statement(job_id).where(*flagged, at_level)).all()
    return (str(rows[0].fidelity) if rows else None), list(rows)


def model_label(job: Job) -> str:
    """The model as the spec names it: the zoo architecture or the factory."""
    model = (job.spec or {}).get("model") or {}
    return str(model.get("zoo") or model.get("factory") or "?")
