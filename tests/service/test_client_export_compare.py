"""Client.export_leaderboard, ``prunesearch leaderboard JOB --format csv|json`` and
Client.compare against a live server (auth on), over rows written straight into its
database."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

from service.api import compare_schemas
from service.cli import app
from service.client import (
    BestCompared,
    Client,
    ComparedJob,
    Comparison,
    NotFound,
    ValidationFailed,
)
from service.db import Database
from service.models import JobStatus
from service.settings import get_settings
from tests.service.factories import LiveApi, add_candidates, candidate_row, live_api, make_job

OWNER = "exporter"
N = 2500  # more than two of the API's pages of 1000


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveApi, str]]:
    with live_api(tmp_path_factory.mktemp("export-client"), owner=OWNER) as live:
        database = Database(live.database_url)
        try:
            with database.sessions() as session:
                job = make_job(session, OWNER, status=JobStatus.SUCCEEDED, name="exported")
                kinds = {0: "uniform", 1: "global"}
                rows = [candidate_row(job.id, n, kind=kinds.get(n, "search")) for n in range(N)]
                add_candidates(session, rows)
                job_id = job.id
        finally:
            database.dispose()
        yield live, job_id


def _ranked(live: LiveApi, job_id: str, **params: object) -> list[int]:
    numbers: list[int] = []
    while True:
        body = live.get(f"/v1/jobs/{job_id}/leaderboard", limit=1000, offset=len(numbers), **params)
        numbers += [item["number"] for item in body["items"]]
        if len(numbers) >= body["total"]:
            return numbers


def test_client_exports_every_row_as_csv_and_json(
    served: tuple[LiveApi, str], tmp_path: Path
) -> None:
    live, job_id = served
    with Client(live.url, live.token) as client:
        client.export_leaderboard(job_id, path=tmp_path / "board.csv")
        client.export_leaderboard(job_id, path=tmp_path / "out" / "board.json", format="json")
        client.export_leaderboard(job_id, path=tmp_path / "feasible.csv", feasible=True)
        with pytest.raises(NotFound):
            client.export_leaderboard("nope", path=tmp_path / "missing.csv")
    assert not (tmp_path / "missing.csv").exists()  # nothing half-written
    table = list(csv.reader(io.StringIO((tmp_path / "board.csv").read_text(), newline="")))
    items = json.loads((tmp_path / "out" / "board.json").read_text())
    ranked = _ranked(live, job_id)
    assert len(table) == N + 1 and len(ranked) == N
    assert [int(line[0]) for line in table[1:]] == ranked
    assert [item["number"] for item in items] == ranked
    feasible = list(csv.reader(io.StringIO((tmp_path / "feasible.csv").read_text(), newline="")))
    assert [int(line[0]) for line in feasible[1:]] == _ranked(live, job_id, feasible=True)


def test_cli_leaderboard_format_csv_and_json(served: tuple[LiveApi, str], tmp_path: Path) -> None:
    live, job_id = served
    env = {"PRUNESEARCH_URL": live.url, "PRUNESEARCH_API_KEY": live.token}
    get_settings.cache_clear()
    runner = CliRunner()
    printed = runner.invoke(
        app, ["leaderboard", job_id, "--format", "csv", "--kind", "uniform"], env=env
    )
    assert printed.exit_code == 0, printed.output
    lines = list(csv.reader(io.StringIO(printed.stdout, newline="")))
    assert lines[0][:2] == ["number", "kind"] and [line[0] for line in lines[1:]] == ["0"]
    out = tmp_path / "board.json"
    written = runner.invoke(
        app, ["leaderboard", job_id, "--format", "json", "--out", str(out)], env=env
    )
    assert written.exit_code == 0, written.output
    assert len(json.loads(out.read_text())) == N
    missing = runner.invoke(app, ["leaderboard", "nope", "--format", "csv"], env=env)
    assert missing.exit_code == 2 and "nope" in missing.output
    get_settings.cache_clear()


def test_compare_models_mirror_the_server_schemas() -> None:
    pairs: list[tuple[type[BaseModel], type[BaseModel]]] = [
        (Comparison, compare_schemas.CompareOut),
        (ComparedJob, compare_schemas.ComparedJobOut),
        (BestCompared, compare_schemas.BestComparedOut),
    ]
    for mine, theirs in pairs:
        server_fields = set(theirs.model_fields) | set(theirs.model_computed_fields)
        assert set(mine.model_fields) == server_fields, mine.__name__


def test_client_compares_two_jobs_and_raises_for_a_bad_list(served: tuple[LiveApi, str]) -> None:
    live, job_id = served
    database = Database(live.database_url)
    try:
        with database.sessions() as session:
            other = make_job(session, OWNER, status=JobStatus.RUNNING, name="other").id
    finally:
        database.dispose()
    with Client(live.url, live.token) as client:
        found = client.compare([other, job_id])
        with pytest.raises(ValidationFailed) as too_few:
            client.compare([job_id])
        with pytest.raises(NotFound):
            client.compare([job_id, "nope"])
    assert [job.id for job in found.jobs] == [other, job_id]
    assert found.jobs[1].baselines["uniform"] is not None
    assert found.jobs[1].baselines["uniform"].number == 0
    assert too_few.value.field == "jobs"
