"""GET /v1/jobs/{id}/leaderboard over 10,000 candidates: ranking, paging, sorting, filters.

The ranking is checked against the library's own order (search's leaderboard sort key),
computed here in Python over every row; SQL must agree page by page.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest

from search.candidates import Candidate, rank_key
from service.models import JobStatus
from tests.service.factories import ApiEnv, add_candidates, api_env, candidate_row, make_job

N = 10_000


def _row(job_id: str, number: int) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if number % 97 == 0:  # failed trials: no figures at all
        fields = {"state": "fail", "params": None, "macs": None, "proxy_score": None}
    if number % 50 == 0:  # finalists with a final accuracy
        fields["accuracy"] = 0.5 + (number % 450) / 1000
        fields["fidelity"] = "final"
    elif number % 25 == 0:  # reached the second rung
        fields["rung_score"] = 0.4 + (number % 350) / 1000
        fields["fidelity"] = "rung-2"
    elif number % 5 == 0:  # stopped after the first rung
        fields["rung_score"] = 0.3 + (number % 550) / 1000
        fields["fidelity"] = "rung-1"
    if number % 10 == 1:
        fields["pareto"] = True
    if number == 3:
        fields["kind"] = "uniform"
    if number == 6:
        fields["kind"] = "global"
    return candidate_row(job_id, number, **fields)


@pytest.fixture(scope="module")
def board(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ApiEnv, str, list[dict[str, Any]]]]:
    root = tmp_path_factory.mktemp("leaderboard-api")
    with api_env(f"sqlite:///{root / 'db.sqlite'}", root / "store") as env:
        with env.session() as session:
            job = make_job(session, "alice", status=JobStatus.RUNNING)
            rows = [_row(job.id, number) for number in range(N)]
            add_candidates(session, rows)
            other = make_job(session, "alice", status=JobStatus.RUNNING)
            add_candidates(session, [candidate_row(other.id, n) for n in range(10)])
        yield env, job.id, rows


@pytest.fixture(scope="module")
def alice(board: tuple[ApiEnv, str, list[dict[str, Any]]]) -> dict[str, str]:
    return board[0].key("alice")


def _rank(row: dict[str, Any]) -> tuple[bool, bool, int, float, int]:
    # The library's own ranking (search.candidates.rank_key), on the row as a Candidate.
    fields = {f.name for f in dataclasses.fields(Candidate)}
    return rank_key(Candidate(**{k: v for k, v in row.items() if k in fields}))


def _get(board: tuple[ApiEnv, str, Any], headers: dict[str, str], **params: Any) -> dict[str, Any]:
    env, job_id, _ = board
    response = env.client.get(f"/v1/jobs/{job_id}/leaderboard", headers=headers, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _numbers(body: dict[str, Any]) -> list[int]:
    return [item["number"] for item in body["items"]]


def test_default_is_the_library_ranking_paged(board: Any, alice: dict[str, str]) -> None:
    expected = [row["number"] for row in sorted(board[2], key=_rank)]

    first = _get(board, alice, limit=100)
    middle = _get(board, alice, limit=100, offset=5000)
    last = _get(board, alice, limit=100, offset=N - 30)

    assert first["total"] == N
    assert _numbers(first) == expected[:100]
    assert _numbers(middle) == expected[5000:5100]
    assert _numbers(last) == expected[N - 30 :]
    top = first["items"][0]
    assert top["feasible"] and top["state"] == "complete" and top["accuracy"] is not None


def test_pages_tile_the_board(board: Any, alice: dict[str, str]) -> None:
    whole = _numbers(_get(board, alice, limit=60))
    pages = _numbers(_get(board, alice, limit=20)) + _numbers(
        _get(board, alice, limit=40, offset=20)
    )
    assert pages == whole


@pytest.mark.parametrize(
    ("params", "keep"),
    [
        ({"feasible": "true"}, lambda r: r["feasible"]),
        ({"feasible": "false"}, lambda r: not r["feasible"]),
        ({"kind": "uniform"}, lambda r: r["kind"] == "uniform"),
        ({"kind": "search", "pareto": "true"}, lambda r: r["kind"] == "search" and r["pareto"]),
        ({"fidelity": "rung-1"}, lambda r: r["fidelity"] == "rung-1"),
        ({"fidelity": "final"}, lambda r: r["fidelity"] == "final"),
    ],
)
def test_filters(board: Any, alice: dict[str, str], params: dict[str, str], keep: Any) -> None:
    expected = [row["number"] for row in sorted(board[2], key=_rank) if keep(row)]

    body = _get(board, alice, limit=50, **params)

    assert body["total"] == len(expected)
    assert _numbers(body) == expected[:50]


@pytest.mark.parametrize("key", ["macs", "params", "score", "number"])
@pytest.mark.parametrize("order", ["asc", "desc"])
def test_sort_with_missing_figures_last(
    board: Any, alice: dict[str, str], key: str, order: str
) -> None:
    def value(row: dict[str, Any]) -> Any:
        if key == "score":
            for name in ("accuracy", "rung_score", "proxy_score"):
                if row[name] is not None:
                    return row[name]
            return None
        return row[key]

    rows = board[2]
    present = sorted(
        (row for row in rows if value(row) is not None),
        key=lambda r: (value(r) if order == "asc" else -value(r), r["number"]),
    )
    missing = sorted((row for row in rows if value(row) is None), key=lambda r: r["number"])
    expected = [row["number"] for row in present + missing]

    head = _get(board, alice, sort=key, order=order, limit=100)
    tail = _get(board, alice, sort=key, order=order, limit=100, offset=N - 100)

    assert _numbers(head) == expected[:100]
    assert _numbers(tail) == expected[-100:]
    assert (head["sort"], head["order"]) == (key, order)


def test_score_sorts_best_first_by_default(board: Any, alice: dict[str, str]) -> None:
    body = _get(board, alice, sort="score", limit=5)
    scores = [item["score"] for item in body["items"]]
    assert body["order"] == "desc"
    assert scores == sorted(scores, reverse=True)


def test_bad_parameters_name_the_field(board: Any, alice: dict[str, str]) -> None:
    env, job_id, _ = board
    for params, field in [
        ({"sort": "colour"}, "sort"),
        ({"limit": 0}, "limit"),
        ({"feasible": "maybe"}, "feasible"),
        ({"kind": "random"}, "kind"),
    ]:
        response = env.client.get(f"/v1/jobs/{job_id}/leaderboard", headers=alice, params=params)
        assert (response.status_code, response.json()["field"]) == (422, field)
