"""The main REST flow on a real PostgreSQL (the other API modules run on SQLite files):
upload, submit (validated, idempotent, queued), the workers' store writing progress and
candidates, leaderboard, best, download, cancel, and another owner's 404s."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from search import Candidate as SearchCandidate
from service.artifacts import ArtifactStore
from service.jobs import SqlJobStore
from tests.service.factories import ApiEnv, api_env, postgres_database, safetensors_bytes, spec
from workers import PREPARE


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiEnv]:
    with postgres_database() as url, api_env(url, tmp_path_factory.mktemp("pg-store")) as e:
        yield e


def test_main_flow(env: ApiEnv, tmp_path: Path) -> None:
    alice, client = env.key("alice"), env.client
    files = {"file": ("w.safetensors", safetensors_bytes())}
    weights = client.post("/v1/artifacts", headers=alice, files=files, data={"kind": "weights"})
    assert weights.status_code == 201, weights.text

    body = spec(model={"weights": weights.json()["id"]})
    submitted = client.post("/v1/jobs", headers={**alice, "Idempotency-Key": "pg-1"}, json=body)
    replay = client.post("/v1/jobs", headers={**alice, "Idempotency-Key": "pg-1"}, json=body)
    bad = client.post("/v1/jobs", headers=alice, json=spec(model={"zoo": "nope"}))
    assert (submitted.status_code, replay.status_code, bad.status_code) == (202, 200, 422)
    job_id = submitted.json()["id"]
    assert replay.json()["id"] == job_id
    assert env.dispatcher.calls == [(PREPARE, job_id, "cpu")]

    _run_like_a_worker(env, job_id, tmp_path)

    job = client.get(f"/v1/jobs/{job_id}", headers=alice).json()
    assert job["status"] == "succeeded"
    assert job["progress"]["trials_done"] == 6
    listed = client.get("/v1/jobs", headers=alice, params={"status": "succeeded"}).json()
    assert [item["id"] for item in listed["items"]] == [job_id]

    board = client.get(
        f"/v1/jobs/{job_id}/leaderboard", headers=alice, params={"limit": 10, "feasible": True}
    ).json()
    assert board["total"] == 300
    scores = [item["score"] for item in board["items"]]
    assert scores == sorted(scores, reverse=True)
    by_macs = client.get(
        f"/v1/jobs/{job_id}/leaderboard", headers=alice, params={"sort": "macs", "limit": 5}
    ).json()
    assert [item["macs"] for item in by_macs["items"]] == [1000, 1001, 1002, 1003, 1004]

    best = client.get(f"/v1/jobs/{job_id}/best", headers=alice).json()
    assert (best["final"], best["candidate"]["number"]) == (True, 7)
    bundle = client.get(f"/v1/jobs/{job_id}/best/model", headers=alice)
    assert zipfile.ZipFile(io.BytesIO(bundle.content)).namelist() == ["model.safetensors"]

    mallory = env.key("mallory")
    for path in ("", "/leaderboard", "/best", "/best/model"):
        assert client.get(f"/v1/jobs/{job_id}{path}", headers=mallory).status_code == 404
    artifact = f"/v1/artifacts/{weights.json()['id']}"
    assert client.get(artifact, headers=mallory).status_code == 404
    assert client.delete(f"/v1/jobs/{job_id}", headers=alice).status_code == 409


def _run_like_a_worker(env: ApiEnv, job_id: str, tmp_path: Path) -> None:
    """What the tasks would write, through the same store, with slices racing to finalize."""
    store = SqlJobStore(env.database, ArtifactStore(env.settings.artifact_dir))
    assert store.start(job_id)
    store.record_reference(job_id, {"params": 2826, "macs": 2720})
    rows = [
        {
            "number": n,
            "kind": "search",
            "state": "complete",
            "macs": 1000 + n,
            "params": 2000 + n,
            "proxy_score": (n * 37 % 100) / 100,
            "feasible": n % 2 == 1,
        }
        for n in range(600)
    ]
    store.record_candidates(job_id, [SearchCandidate.from_dict(row) for row in rows])
    upserted = SearchCandidate.from_dict({**rows[7], "accuracy": 0.99})
    store.record_candidates(job_id, [upserted])  # an upsert
    store.record_progress(job_id, trials_done=6, trials_failed=0, best_score=0.99, eta_s=None)
    with ThreadPoolExecutor(3) as pool:
        assert sorted(pool.map(lambda _: store.begin_finalizing(job_id), range(3))) == [
            False,
            False,
            True,
        ]
    folder = tmp_path / "best"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"weights")
    best = {**rows[7], "accuracy": 0.99}
    store.succeed(job_id, {"best": best}, store.store_bundle(job_id, folder))


def test_cancel_a_queued_job(env: ApiEnv) -> None:
    alice = env.key("alice")
    job = env.client.post("/v1/jobs", headers=alice, json=spec()).json()

    cancelled = env.client.delete(f"/v1/jobs/{job['id']}", headers=alice).json()

    assert cancelled["status"] == "cancelled"
    assert [e["to_status"] for e in cancelled["events"]] == ["queued", "cancelled"]


def test_the_trial_gate_lets_one_process_at_a_time_start_a_jobs_trial(
    env: ApiEnv, tmp_path: Path
) -> None:
    from service.db import Database
    from service.jobs._gate import AdvisoryGate

    # Two stores on two engines: two worker processes, as far as PostgreSQL can tell.
    other = Database(env.database.engine.url.render_as_string(hide_password=False))
    first = SqlJobStore(env.database, ArtifactStore(tmp_path)).trial_gate("job-a")
    second = AdvisoryGate(other.engine, "job-a", wait_s=0.3)
    unrelated = SqlJobStore(other, ArtifactStore(tmp_path)).trial_gate("job-b")
    try:
        first.acquire()
        unrelated.acquire()  # another job's gate is another lock
        unrelated.release()

        second.acquire()  # times out: goes on without the gate, holding nothing
        assert second._connection is None

        first.release()
        first.release()  # idempotent
        second.acquire()
        assert second._connection is not None
    finally:
        for gate in (first, second, unrelated):
            gate.release()
        other.dispose()
