"""One real job through the API in embedded mode: create_app's own EmbeddedDispatcher runs
the worker tasks against SqlJobStore (the other API tests record what is queued instead).
A tiny search on digits: seconds on two cores."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.db import Database, migrate
from service.jobs import SqlJobStore
from service.models import Artifact, ArtifactKind
from service.settings import Settings
from workers import EmbeddedDispatcher

TINY = {
    "name": "embedded",
    "model": {"zoo": "small_cnn", "kwargs": {"width": 8}, "pretrain_epochs": 2},
    "data": {"source": "digits"},
    "budget": {"max_macs": 0.5},
    "search": {"n_trials": 4, "seed": 0},
    "finetune": {"proxy_epochs": 1, "proxy_samples": 256, "final_epochs": 1, "finalists": 1},
}


def test_a_job_runs_to_the_end_in_the_api_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept: list[str] = []
    keep = SqlJobStore._keep_reference

    def spy(store: SqlJobStore, job_id: str, scratch: Path) -> None:
        keep(store, job_id, scratch)
        kept.append(job_id)

    monkeypatch.setattr(SqlJobStore, "_keep_reference", spy)
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    migrate(url)
    settings = Settings(database_url=url, artifact_dir=tmp_path / "store", auth=False)

    with TestClient(create_app(settings)) as client:
        job = client.post("/v1/jobs", json=TINY).json()
        dispatcher = client.app.state.dispatcher  # type: ignore[attr-defined]
        assert isinstance(dispatcher, EmbeddedDispatcher)
        assert dispatcher.join(timeout=600), "the job did not finish in 10 minutes"
        done = client.get(f"/v1/jobs/{job['id']}").json()
        board = client.get(f"/v1/jobs/{job['id']}/leaderboard").json()
        best = client.get(f"/v1/jobs/{job['id']}/best").json()
        bundle = client.get(f"/v1/jobs/{job['id']}/best/model")

    assert done["status"] == "succeeded", done["error"]
    assert [e["to_status"] for e in done["events"]] == [
        "queued",
        "running",
        "finalizing",
        "succeeded",
    ]
    assert done["progress"]["trials_done"] == 4
    assert done["reference"]["macs"] > 0
    assert board["total"] == 4
    assert {"uniform", "global"} <= {item["kind"] for item in board["items"]}
    assert best["final"] and best["candidate"]["feasible"]
    assert best["macs_ratio"] <= 0.5
    assert best["candidate"]["accuracy"] == done["result"]["best"]["accuracy"]
    names = zipfile.ZipFile(io.BytesIO(bundle.content)).namelist()
    assert {"model.safetensors", "policy.json", "report.json"} <= set(names)
    # The weights prepare trained were an artifact of the job while it ran; gone with it.
    assert kept == [job["id"]]
    assert not list((tmp_path / "store" / "references").glob("*"))
    database = Database(url)
    with database.session() as session:
        assert [a.kind for a in session.query(Artifact)] == [ArtifactKind.BUNDLE]
    database.dispose()
