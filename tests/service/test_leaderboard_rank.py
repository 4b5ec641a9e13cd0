"""The SQL ranking against the library's, on every fidelity and every missing score.

``SCORE``, ``FIDELITY_LEVEL`` and the ``rank`` order are generated from the keys of
:mod:`search.candidates`; here they are checked against ``score``, ``fidelity_level`` and
``rank_key`` on a table of candidates that covers each fidelity (screen, every rung a spec
allows, final) crossed with each of the three score fields present or None, feasible or
not, complete or failed, with tied scores broken by trial number — on SQLite and
PostgreSQL, whose NULL ordering differs.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from search.candidates import (
    FINAL,
    MAX_RUNGS,
    SCORE_FIELDS,
    SCREEN,
    Candidate,
    fidelity_level,
    rank_key,
    rung_name,
    score,
)
from search.spec import FinetuneSpec
from service.db import Database, migrate
from service.jobs._leaderboard import FIDELITY_LEVEL, SCORE, LeaderboardQuery, leaderboard_page
from service.models import Candidate as Row
from service.models import JobStatus
from tests.service.factories import add_candidates, candidate_row, make_job, postgres_database

FIDELITIES = (SCREEN, *(rung_name(k) for k in range(1, MAX_RUNGS + 1)), FINAL)


def _table(job_id: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    values = itertools.cycle((0.5, 0.7, 0.5, 0.9))  # repeats: ties the number must break
    combinations = itertools.product(
        FIDELITIES, *([False, True] for _ in SCORE_FIELDS), (True, False), ("complete", "fail")
    )
    for fidelity, *present, feasible, state in combinations:
        fields = {
            name: (next(values) if given else None)
            for name, given in zip(SCORE_FIELDS, present, strict=True)
        }
        rows.append(
            candidate_row(
                job_id, len(rows), fidelity=fidelity, feasible=feasible, state=state, **fields
            )
        )
    return rows


def _candidate(row: dict[str, Any]) -> Candidate:
    return Candidate.from_dict(row)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    where: AbstractContextManager[str] = (
        nullcontext(f"sqlite:///{tmp_path / 'rank.sqlite'}")
        if request.param == "sqlite"
        else postgres_database()
    )
    with where as url:
        migrate(url)
        database = Database(url)
        try:
            yield database
        finally:
            database.dispose()


def test_spec_rungs_stay_within_what_the_sql_spells_out() -> None:
    limit = FinetuneSpec.model_fields["rungs"].metadata
    assert any(getattr(item, "le", None) == MAX_RUNGS for item in limit)


def test_sql_score_fidelity_and_rank_are_the_library_s(database: Database) -> None:
    with database.session() as session:
        job = make_job(session, "alice", status=JobStatus.RUNNING)
        rows = _table(job.id)
        add_candidates(session, rows)
        job_id = job.id

    with database.session() as session:
        computed = {
            number: (value, level)
            for number, value, level in session.execute(
                select(Row.number, SCORE, FIDELITY_LEVEL).where(Row.job_id == job_id)
            )
        }
        page, total = leaderboard_page(session, job_id, LeaderboardQuery(limit=len(rows)))

    candidates = [_candidate(row) for row in rows]
    assert total == len(rows) == len(FIDELITIES) * 2**3 * 2 * 2
    for c in candidates:
        assert computed[c.number] == (score(c), fidelity_level(c.fidelity)), c
    assert [row.number for row in page] == [c.number for c in sorted(candidates, key=rank_key)]
