"""?format=csv on /v1/jobs/{id}/leaderboard and /points: the JSON's rows and columns as a
streamed CSV file, owner-scoped, every row when no limit is given (10,000 here)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from service.api.export import CANDIDATE_COLUMNS, POINT_COLUMNS
from service.jobs import csv_chunks
from service.models import JobStatus
from tests.service.factories import (
    ApiEnv,
    add_candidates,
    api_env,
    candidate_row,
    make_job,
    postgres_database,
)

N = 10_000
ODD = 'conv "a", b\nc'  # a layer name with quotes, a comma and a newline


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def env(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ApiEnv, str, str]]:
    # Both backends: PostgreSQL streams through a server-side cursor, SQLite does not.
    root = tmp_path_factory.mktemp("export-api")
    with ExitStack() as stack:
        url = f"sqlite:///{root / 'db.sqlite'}"
        if request.param == "postgresql":
            url = stack.enter_context(postgres_database())
        built = stack.enter_context(api_env(url, root / "store"))
        with built.session() as session:
            big = make_job(
                session, "alice", status=JobStatus.SUCCEEDED, name="big", trials_planned=N
            )
            rows = [
                candidate_row(
                    big.id,
                    n,
                    kind={3: "uniform", 6: "global"}.get(n, "search"),
                    pareto=n % 10 == 1,
                    accuracy=0.5 + n % 450 / 1000 if n % 50 == 0 else None,
                    fidelity="final" if n % 50 == 0 else "screen",
                )
                for n in range(N)
            ]
            add_candidates(session, rows)
            odd = make_job(session, "alice", status=JobStatus.RUNNING, name='odd "name", 1/2')
            add_candidates(
                session, [candidate_row(odd.id, n, ratios={ODD: 0.25, "fc": 0.5}) for n in range(3)]
            )
        yield built, big.id, odd.id


@pytest.fixture(scope="module")
def alice(env: tuple[ApiEnv, str, str]) -> dict[str, str]:
    return env[0].key("alice")


def _csv(env: ApiEnv, path: str, headers: dict[str, str], **params: Any) -> list[list[str]]:
    response = env.client.get(path, headers=headers, params={"format": "csv", **params})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith('attachment; filename="')
    return list(csv.reader(io.StringIO(response.text, newline="")))


def _json_items(env: ApiEnv, job_id: str, headers: dict[str, str], **params: Any) -> list[Any]:
    items: list[Any] = []
    while True:
        response = env.client.get(
            f"/v1/jobs/{job_id}/leaderboard",
            headers=headers,
            params={**params, "limit": 1000, "offset": len(items)},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        items.extend(body["items"])
        if len(items) >= body["total"]:
            return items


def _as_json(column: str, cell: str) -> Any:
    """A CSV cell back as the JSON value it spells (for comparing with the JSON answer)."""
    if cell == "":
        return None
    if column in ("ratios", "timings"):
        return json.loads(cell)
    if cell in ("true", "false"):
        return cell == "true"
    try:
        return int(cell)
    except ValueError:
        try:
            return float(cell)
        except ValueError:
            return cell


def test_leaderboard_csv_is_every_row_of_the_json_in_its_order(
    env: tuple[ApiEnv, str, str], alice: dict[str, str]
) -> None:
    built, big, _ = env
    table = _csv(built, f"/v1/jobs/{big}/leaderboard", alice)
    assert table[0] == list(CANDIDATE_COLUMNS)
    assert "score" in table[0] and "ratios" in table[0]
    assert len(table) == N + 1  # no limit given: every row, not the JSON's 50
    expected = _json_items(built, big, alice)
    got = [dict(zip(table[0], line, strict=True)) for line in table[1:]]
    assert [int(row["number"]) for row in got] == [item["number"] for item in expected]
    for row, item in zip(got[:200], expected[:200], strict=True):
        assert {k: _as_json(k, v) for k, v in row.items()} == item


@pytest.mark.parametrize(
    "params",
    [
        {"feasible": "true"},
        {"kind": "uniform"},
        {"pareto": "true", "sort": "macs", "order": "desc"},
        {"fidelity": "final", "sort": "score"},
        {"feasible": "false", "sort": "number", "limit": 7, "offset": 3},
    ],
)
def test_leaderboard_csv_respects_filters_sort_and_page(
    env: tuple[ApiEnv, str, str], alice: dict[str, str], params: dict[str, Any]
) -> None:
    built, big, _ = env
    table = _csv(built, f"/v1/jobs/{big}/leaderboard", alice, **params)
    numbers = [int(line[0]) for line in table[1:]]
    if "limit" in params:
        response = built.client.get(f"/v1/jobs/{big}/leaderboard", headers=alice, params=params)
        expected = [item["number"] for item in response.json()["items"]]
    else:
        expected = [item["number"] for item in _json_items(built, big, alice, **params)]
    assert numbers == expected and numbers


def test_json_stays_the_default_and_pages_by_50(
    env: tuple[ApiEnv, str, str], alice: dict[str, str]
) -> None:
    built, big, _ = env
    for params in ({}, {"format": "json"}):
        response = built.client.get(f"/v1/jobs/{big}/leaderboard", headers=alice, params=params)
        assert response.headers["content-type"] == "application/json"
        body = response.json()
        assert (len(body["items"]), body["limit"], body["total"]) == (50, 50, N)


def test_odd_names_are_quoted_and_the_file_name_is_safe(
    env: tuple[ApiEnv, str, str], alice: dict[str, str]
) -> None:
    built, _, odd = env
    response = built.client.get(
        f"/v1/jobs/{odd}/leaderboard", headers=alice, params={"format": "csv", "sort": "number"}
    )
    disposition = response.headers["content-disposition"]
    assert disposition == f'attachment; filename="odd-name-1-2-{odd[:8]}-leaderboard.csv"'
    assert '""conv' in response.text  # a quote inside a quoted cell is doubled (RFC 4180)
    table = list(csv.reader(io.StringIO(response.text, newline="")))
    ratios = json.loads(table[1][table[0].index("ratios")])
    assert ratios == {ODD: 0.25, "fc": 0.5}
    assert len(table) == 4


def test_points_csv_has_every_point_by_number(
    env: tuple[ApiEnv, str, str], alice: dict[str, str]
) -> None:
    built, big, _ = env
    table = _csv(built, f"/v1/jobs/{big}/points", alice)
    assert table[0] == list(POINT_COLUMNS)
    assert [int(line[0]) for line in table[1:]] == list(range(N))
    points = built.client.get(f"/v1/jobs/{big}/points", headers=alice).json()["points"]
    for line, point in zip(table[1:50], points[:49], strict=True):
        assert {k: _as_json(k, v) for k, v in zip(table[0], line, strict=True)} == point


@pytest.mark.parametrize("route", ["leaderboard", "points"])
def test_export_is_owner_scoped(
    env: tuple[ApiEnv, str, str], alice: dict[str, str], route: str
) -> None:
    built, big, _ = env
    path = f"/v1/jobs/{big}/{route}"
    bob = built.client.get(path, headers=built.key("bob"), params={"format": "csv"})
    assert bob.status_code == 404 and big in bob.json()["detail"]
    assert built.client.get(path, params={"format": "csv"}).status_code == 401
    wrong = built.client.get(path, headers=alice, params={"format": "xml"})
    assert wrong.status_code == 422 and wrong.json()["field"] == "format"


def test_csv_is_encoded_a_batch_at_a_time() -> None:
    # The generator never holds more than a batch: 5 rows in batches of 2 come as 3 chunks.
    chunks = list(csv_chunks(["a", "b"], range(5), lambda n: [n, {"x": n}], batch=2))
    assert len(chunks) == 3
    text = b"".join(chunks).decode()
    assert text.splitlines()[0] == "a,b"
    assert text.splitlines()[1] == '0,"{""x"":0}"'
