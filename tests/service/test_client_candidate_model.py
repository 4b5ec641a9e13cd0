"""Client.download(candidate=N) and ``prunesearch download JOB --candidate N`` against a live
server: the best's bundle, or the server's reason why any other candidate has no weights."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from service.artifacts import ArtifactStore
from service.cli import app
from service.client import Client, Conflict
from service.db import Database
from service.jobs import SqlJobStore
from service.models import JobStatus
from service.settings import get_settings
from tests.service.factories import LiveApi, add_candidates, candidate_row, live_api, make_job

OWNER = "downloader"
BEST = 3
KEPT = "only the chosen model's weights are kept"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveApi, str]]:
    folder = tmp_path_factory.mktemp("candidate-model")
    with live_api(folder, owner=OWNER) as live:
        bundle = folder / "bundle"
        bundle.mkdir()
        for name in ("model.safetensors", "policy.json", "report.json"):
            (bundle / name).write_text("{}")
        database = Database(live.database_url)
        try:
            with database.sessions() as session:
                job = make_job(session, OWNER, status=JobStatus.FINALIZING, name="picked")
                rows = [candidate_row(job.id, n, feasible=True) for n in range(5)]
                add_candidates(session, rows)
                job_id = str(job.id)
            store = SqlJobStore(database, ArtifactStore(folder / "store"))  # live_api's store
            best = {k: v for k, v in rows[BEST].items() if k != "job_id"}
            store.succeed(job_id, {"best": best}, store.store_bundle(job_id, bundle))
        finally:
            database.dispose()
        yield live, job_id


def test_the_client_downloads_the_best_candidate_and_says_why_not_another(
    served: tuple[LiveApi, str], tmp_path: Path
) -> None:
    live, job_id = served
    with Client(live.url, api_key=live.token) as client:
        folder = client.download(job_id, tmp_path / "best", candidate=BEST)
        with pytest.raises(Conflict) as refused:
            client.download(job_id, tmp_path / "other", candidate=1)

    assert sorted(p.name for p in folder.iterdir()) == [
        "model.safetensors",
        "policy.json",
        "report.json",
    ]
    assert KEPT in str(refused.value) and "candidate #1" in str(refused.value)
    assert not (tmp_path / "other").exists()  # no empty folder left by the refusal


def test_cli_download_candidate(served: tuple[LiveApi, str], tmp_path: Path) -> None:
    live, job_id = served
    env = {"PRUNESEARCH_URL": live.url, "PRUNESEARCH_API_KEY": live.token}
    get_settings.cache_clear()
    runner = CliRunner()

    best = runner.invoke(
        app, ["download", job_id, "--candidate", str(BEST), "--out", str(tmp_path / "b")], env=env
    )
    other = runner.invoke(
        app, ["download", job_id, "--candidate", "1", "--out", str(tmp_path / "o")], env=env
    )

    assert best.exit_code == 0, best.output
    assert f"candidate #{BEST} of job {job_id} written to" in best.stdout
    assert other.exit_code == 2 and KEPT in other.output
