"""Paged reads: an owner's jobs, and a job's leaderboard ranked, filtered and paged in SQL.

A leaderboard may hold thousands of candidates: they are never all loaded. The database
filters by job (the ``(job_id, number)`` unique index), sorts and cuts the page; only the
page's rows come back, with the total in a second COUNT query.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, TypeVar, get_args

from sqlalchemy import ColumnElement, Select, SQLColumnExpression, case, func, select
from sqlalchemy.orm import Session

from search import FIDELITIES, SCORE_FIELDS, fidelity_level
from service.models import Candidate, CandidateKind, Job, JobStatus

__all__ = [
    "SORT_KEYS",
    "LeaderboardQuery",
    "SortKey",
    "baselines",
    "best_candidate",
    "leaderboard_page",
    "list_jobs",
    "ordered_candidates",
]

T = TypeVar("T")
SortKey = Literal["rank", "score", "fidelity", "macs", "params", "latency_ms", "number"]
Order = Literal["asc", "desc"]
SORT_KEYS: tuple[str, ...] = get_args(SortKey)

# search.candidates.score in SQL, generated from the same fields in the same order (and
# tested against it): final accuracy, else its last rung's score, else the screening score.
SCORE = func.coalesce(*(getattr(Candidate, name) for name in SCORE_FIELDS))
# search.candidates.fidelity_level in SQL, generated from it: screen 0, rung-k k, final
# above every rung (a spec has at most MAX_RUNGS rungs).
FIDELITY_LEVEL = case(
    *((Candidate.fidelity == name, fidelity_level(name)) for name in FIDELITIES[1:]),
    else_=fidelity_level(FIDELITIES[0]),  # screening, and rows from before the stages
)
_COLUMNS: dict[str, SQLColumnExpression[Any]] = {
    "score": SCORE,
    "fidelity": FIDELITY_LEVEL,
    "macs": Candidate.macs,
    "params": Candidate.params,
    "latency_ms": Candidate.latency_ms,
    "number": Candidate.number,
}
# Higher is better for the score; lower is better for the costs.
_DEFAULT_ORDER: dict[str, Order] = {"score": "desc", "fidelity": "desc", "rank": "asc"}


@dataclass(frozen=True)
class LeaderboardQuery:
    """Filters, sort and page of a leaderboard request (None: no filter)."""

    feasible: bool | None = None
    kind: CandidateKind | None = None
    pareto: bool | None = None
    fidelity: str | None = None
    sort: SortKey = "rank"
    order: Order | None = None  # default: best first (desc for score, asc otherwise)
    limit: int = 50
    offset: int = 0


def leaderboard_page(
    session: Session, job_id: str, query: LeaderboardQuery
) -> tuple[list[Candidate], int]:
    """One page of ``job_id``'s candidates and the number matching the filters."""
    conditions = _conditions(job_id, query)
    total = session.scalar(select(func.count()).select_from(Candidate).where(*conditions)) or 0
    # Sort narrow rows (ids and keys), then load only the page's wide rows (ratios, timings).
    ids = select(Candidate.id).where(*conditions)
    ids = _ordered(ids, query.sort, query.order or _DEFAULT_ORDER.get(query.sort, "asc"))
    order = list(session.scalars(ids.limit(query.limit).offset(query.offset)))
    rows = {
        row.id: row for row in session.scalars(select(Candidate).where(Candidate.id.in_(order)))
    }
    return [rows[row_id] for row_id in order], total


def ordered_candidates(job_id: str, query: LeaderboardQuery) -> Select[Any]:
    """Every candidate of ``job_id`` matching ``query``'s filters, in its order (no page
    cut): for streaming exports, which read it with ``yield_per``."""
    statement = select(Candidate).where(*_conditions(job_id, query))
    return _ordered(statement, query.sort, query.order or _DEFAULT_ORDER.get(query.sort, "asc"))


def _conditions(job_id: str, query: LeaderboardQuery) -> list[ColumnElement[bool]]:
    conditions = [Candidate.job_id == job_id]
    if query.feasible is not None:
        conditions.append(Candidate.feasible.is_(query.feasible))
    if query.kind is not None:
        conditions.append(Candidate.kind == query.kind)
    if query.pareto is not None:
        conditions.append(Candidate.pareto.is_(query.pareto))
    if query.fidelity is not None:
        conditions.append(Candidate.fidelity == query.fidelity)
    return conditions


def _ordered(statement: Select[T], sort: str, order: Order) -> Select[T]:
    if sort == "rank":
        keys = _rank()
        return statement.order_by(*(keys if order == "asc" else [key.desc() for key in keys]))
    column = _COLUMNS[sort]
    # Missing figures (a failed trial has none) go last either way; ties by trial number.
    return statement.order_by(
        column.is_(None), column.asc() if order == "asc" else column.desc(), Candidate.number
    )


def _rank() -> list[SQLColumnExpression[Any]]:
    """The library's ranking (search.candidates.rank_key) as ascending SQL keys: feasible
    and complete first, the furthest stage first, best score, then oldest."""
    return [
        case((Candidate.feasible.is_(True), 0), else_=1),
        case((Candidate.state == "complete", 0), else_=1),
        -FIDELITY_LEVEL,
        -func.coalesce(SCORE, -1.0),
        Candidate.number,
    ]


def best_candidate(session: Session, job: Job) -> tuple[Candidate | dict[str, Any] | None, bool]:
    """The job's best candidate and whether it is final: the result's best once the job
    succeeded (its row, or the result's copy), else the top of the leaderboard if it is
    feasible and complete (the best so far), else None."""
    final = (job.result or {}).get("best")
    if isinstance(final, dict) and final:
        row = session.scalars(
            select(Candidate).where(
                Candidate.job_id == job.id, Candidate.number == final.get("number")
            )
        ).first()
        return row if row is not None else final, True
    statement = select(Candidate).where(
        Candidate.job_id == job.id, Candidate.feasible.is_(True), Candidate.state == "complete"
    )
    return session.scalars(_ordered(statement, "rank", "asc").limit(1)).first(), False


def baselines(session: Session, job_id: str) -> dict[str, Candidate | None]:
    """The uniform, global and sensitivity baselines of ``job_id`` (the best-ranked of each
    kind)."""
    found: dict[str, Candidate | None] = {}
    for kind in (CandidateKind.UNIFORM, CandidateKind.GLOBAL, CandidateKind.SENSITIVITY):
        statement = select(Candidate).where(Candidate.job_id == job_id, Candidate.kind == kind)
        found[kind.value] = session.scalars(_ordered(statement, "rank", "asc").limit(1)).first()
    return found


def list_jobs(
    session: Session, owner: str, *, status: JobStatus | None, limit: int, offset: int
) -> tuple[list[Job], int]:
    """One page of ``owner``'s jobs, newest first, and how many there are in all."""
    conditions = [Job.owner == owner]
    if status is not None:
        conditions.append(Job.status == status)
    total = session.scalar(select(func.count()).select_from(Job).where(*conditions)) or 0
    statement = select(Job).where(*conditions).order_by(Job.created_at.desc(), Job.id).limit(limit)
    return list(session.scalars(statement.offset(offset))), total
