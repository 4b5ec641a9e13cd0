"""``service.client.Client`` against a live server: uvicorn in a thread on a free port,
embedded execution, a SQLite database, auth on with a key made in that database.

One tiny digits job runs for the whole module (fixtures ``submitted`` then ``finished``);
the other tests read it, so the file costs one small search.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import torch
from pydantic import BaseModel
from safetensors.torch import save_file

from pruning import evaluate, kept_channels, load_bundle, zoo
from pruning.data import load_builtin
from service.api import insights_schemas as insights
from service.api import schemas
from service.client import (
    ArtifactInfo,
    BestInfo,
    BudgetLimits,
    CandidateDetail,
    CandidateInfo,
    CandidateLayer,
    Client,
    ClientError,
    History,
    Importance,
    JobEvent,
    JobInfo,
    JobPage,
    JobPoints,
    JobSummary,
    LeaderboardPage,
    ParamImportance,
    Point,
    Progress,
    ReferenceFigures,
    Timings,
    TrialPoint,
)
from tests.service.factories import LiveApi, live_api

# The brief's tiny job: seconds of training on two cores.
TINY_SPEC: dict[str, Any] = {
    "name": "client-tiny",
    "model": {"zoo": "small_cnn", "kwargs": {"width": 8}, "pretrain_epochs": 6},
    "data": {"source": "digits"},
    "budget": {"max_macs": 0.4},
    "search": {"n_trials": 3, "seed": 0},
    "finetune": {"proxy_epochs": 1, "proxy_samples": 512, "final_epochs": 1, "finalists": 1},
}


def small_cnn() -> torch.nn.Module:
    return zoo.build("small_cnn", width=8, num_classes=10, in_channels=1)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    with live_api(tmp_path_factory.mktemp("client-api")) as live:
        yield live


@pytest.fixture
def client(api: LiveApi) -> Iterator[Client]:
    with Client(api.url, api.token) as client:
        yield client


@pytest.fixture(scope="module")
def submitted(api: LiveApi) -> JobInfo:
    with Client(api.url, api.token) as client:
        return client.submit(TINY_SPEC)


@dataclass(frozen=True)
class Finished:
    job: JobInfo
    seen: list[JobInfo]


@pytest.fixture(scope="module")
def finished(api: LiveApi, submitted: JobInfo) -> Finished:
    seen: list[JobInfo] = []
    with Client(api.url, api.token) as client:
        job = client.wait(submitted.id, poll_s=0.5, timeout=600, on_progress=seen.append)
    return Finished(job, seen)


def test_client_models_mirror_the_server_schemas() -> None:
    # The client keeps its own models (no FastAPI, no SQLAlchemy): they must not drift.
    pairs: list[tuple[type[BaseModel], type[BaseModel]]] = [
        (ArtifactInfo, schemas.ArtifactOut),
        (Progress, schemas.ProgressOut),
        (Timings, schemas.TimingsOut),
        (JobEvent, schemas.EventOut),
        (JobSummary, schemas.JobSummaryOut),
        (JobInfo, schemas.JobOut),
        (CandidateInfo, schemas.CandidateOut),
        (LeaderboardPage, schemas.LeaderboardOut),
        (BestInfo, schemas.BestOut),
        (ReferenceFigures, insights.ReferenceOut),
        (BudgetLimits, insights.BudgetOut),
        (Point, insights.PointOut),
        (JobPoints, insights.PointsOut),
        (CandidateLayer, insights.LayerOut),
        (CandidateDetail, insights.CandidateDetailOut),
        (TrialPoint, insights.HistoryPointOut),
        (History, insights.HistoryOut),
        (ParamImportance, insights.ParamImportanceOut),
        (Importance, insights.ImportanceOut),
    ]
    for mine, theirs in pairs:
        server_fields = set(theirs.model_fields) | set(theirs.model_computed_fields)
        assert set(mine.model_fields) == server_fields, mine.__name__
    assert set(JobPage.model_fields) == set(schemas.Page[schemas.JobSummaryOut].model_fields)


def test_upload_returns_the_artifact_with_its_hash(client: Client, tmp_path: Path) -> None:
    path = tmp_path / "weights.safetensors"
    save_file(small_cnn().state_dict(), str(path))

    artifact = client.upload(path, "weights")

    assert artifact.kind == "weights"
    assert artifact.size == path.stat().st_size
    assert artifact.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert client.artifact(artifact.id) == artifact


def test_a_repeated_idempotency_key_returns_the_first_job(
    client: Client, submitted: JobInfo
) -> None:
    # Queued behind the module's job (one embedded worker) and cancelled at once: cheap.
    first = client.submit({**TINY_SPEC, "name": "again"}, idempotency_key="k-1")
    second = client.submit({**TINY_SPEC, "name": "again"}, idempotency_key="k-1")
    cancelled = client.cancel(first.id)

    assert second.id == first.id != submitted.id
    assert cancelled.status == "cancelled"  # queued: cancelled at once


def test_wait_calls_back_with_progress_until_the_job_ends(finished: Finished) -> None:
    job = finished.job
    assert job.status == "succeeded", job.error
    assert job.is_final and job.progress.trials_done == 3
    assert finished.seen and finished.seen[-1] == job
    dones = [seen.progress.trials_done for seen in finished.seen]
    assert dones == sorted(dones)
    assert [event.to_status for event in job.events] == [
        "queued",
        "running",
        "finalizing",
        "succeeded",
    ]


def test_leaderboard_has_both_baselines_and_filters(client: Client, finished: Finished) -> None:
    board = client.leaderboard(finished.job.id)
    uniform = client.leaderboard(finished.job.id, kind="uniform")
    feasible = client.leaderboard(finished.job.id, feasible=True, limit=1)

    assert board.total == 3
    assert {"uniform", "global"} <= {item.kind for item in board.items}
    assert [item.kind for item in uniform.items] == ["uniform"]
    assert feasible.limit == 1 and len(feasible.items) == 1 and feasible.items[0].feasible


def test_points_and_a_candidates_layers_of_a_real_job(client: Client, finished: Finished) -> None:
    job = finished.job
    points = client.points(job.id)
    board = client.leaderboard(job.id)

    assert [p.number for p in points.points] == sorted(item.number for item in board.items)
    assert {p.number: p.score for p in points.points} == {i.number: i.score for i in board.items}
    reference_macs = (job.reference or {})["macs"]
    assert points.reference is not None and points.reference.macs == reference_macs
    assert points.budget.max_macs == int(0.4 * reference_macs)
    uniform = next(item for item in board.items if item.kind == "uniform")
    detail = client.candidate(job.id, uniform.number)
    recorded = (job.reference or {})["layers"]

    assert detail.ratios == uniform.ratios and detail.granularity == "channel"
    assert [layer.name for layer in detail.layers] == [layer["name"] for layer in recorded]
    for layer, known in zip(detail.layers, recorded, strict=True):
        ratio = uniform.ratios.get(layer.name, 0.0)
        kept = kept_channels(known["out_channels"], ratio, 1) if ratio else known["out_channels"]
        assert (layer.original, layer.kept, layer.ratio) == (known["out_channels"], kept, ratio)
    with pytest.raises(ClientError) as caught:
        client.candidate(job.id, 999)
    assert caught.value.status == 404


def test_history_and_importance_of_a_real_job(client: Client, finished: Finished) -> None:
    history = client.history(finished.job.id)
    importance = client.importance(finished.job.id)

    assert history.direction == "maximize"
    assert [p.number for p in history.points] == list(range(len(history.points)))
    assert [p.kind for p in history.points[:2]] == ["uniform", "global"]
    values = [p.value for p in history.points if p.value is not None]
    assert history.points[-1].best_so_far == max(values)
    if importance.params:  # enough complete trials that differ
        assert importance.message is None and importance.trials_used >= 2
        assert sum(p.importance for p in importance.params) == pytest.approx(1.0)
    else:
        assert importance.message


def test_best_downloads_as_a_bundle_that_loads_with_the_reported_accuracy(
    client: Client, finished: Finished, tmp_path: Path
) -> None:
    best = client.best(finished.job.id)
    folder = client.download(finished.job.id, tmp_path / "best")

    assert best.final and best.candidate.feasible and "bundle" in best.formats
    assert best.macs_ratio is not None and best.macs_ratio <= 0.4
    assert {"uniform", "global"} <= set(best.baselines)
    assert {"model.safetensors", "policy.json", "report.json"} <= {p.name for p in folder.iterdir()}
    model = load_bundle(folder, small_cnn)
    test = load_builtin("digits").test
    assert test is not None
    assert evaluate(model, test).accuracy == pytest.approx(best.candidate.test_accuracy)


def test_single_formats_download_to_a_file_or_into_a_folder(
    client: Client, finished: Finished, tmp_path: Path
) -> None:
    named = client.download(finished.job.id, tmp_path / "w.safetensors", format="safetensors")
    into = client.download(finished.job.id, tmp_path, format="safetensors")

    assert named == tmp_path / "w.safetensors" and into == tmp_path / "model.safetensors"
    assert named.read_bytes() == into.read_bytes()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


def test_cancelling_a_finished_job_is_a_409(client: Client, finished: Finished) -> None:
    with pytest.raises(ClientError) as caught:
        client.cancel(finished.job.id)

    assert caught.value.status == 409
    assert "already succeeded" in caught.value.detail


def test_jobs_lists_and_filters_by_status(client: Client, finished: Finished) -> None:
    page = client.jobs(status="succeeded")

    assert finished.job.id in [job.id for job in page.items]
    assert all(job.status == "succeeded" for job in page.items)


def test_api_errors_carry_status_detail_and_field(client: Client, api: LiveApi) -> None:
    bad = {**TINY_SPEC, "budget": {"max_macs": 0.4, "bogus": 1}}
    with pytest.raises(ClientError) as unknown_field:
        client.submit(bad)
    with pytest.raises(ClientError) as missing:
        client.job("no-such-job")
    with Client(api.url, "ps_not-a-key") as stranger, pytest.raises(ClientError) as denied:
        stranger.jobs()

    assert (unknown_field.value.status, unknown_field.value.field) == (422, "budget.bogus")
    assert str(unknown_field.value).endswith("(field budget.bogus)")
    assert missing.value.status == 404 and missing.value.is_client_side
    assert denied.value.status == 401


def test_an_unreachable_server_is_a_client_error_saying_so() -> None:
    with Client("http://127.0.0.1:9", timeout=5) as client, pytest.raises(ClientError) as caught:
        client.jobs()

    assert caught.value.status is None
    assert "cannot reach the prunesearch API at http://127.0.0.1:9" in str(caught.value)


def test_submit_reads_a_yaml_spec_and_names_an_unreadable_one(tmp_path: Path) -> None:
    seen: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(422, json={"detail": "stop here", "field": None})

    spec = tmp_path / "spec.yaml"
    spec.write_text("name: from-yaml\nmodel: {zoo: mlp}\nbudget: {max_macs: 0.5}\n")
    with Client("http://api", transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(ClientError, match="stop here"):
            client.submit(spec)
        with pytest.raises(ClientError, match="cannot read spec"):
            client.submit(tmp_path / "missing.yaml")

    assert seen == [{"name": "from-yaml", "model": {"zoo": "mlp"}, "budget": {"max_macs": 0.5}}]


def test_wait_gives_up_after_its_timeout(finished: Finished) -> None:
    running = finished.job.model_dump(mode="json") | {"status": "running"}
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=running))

    with Client("http://api", transport=transport) as client, pytest.raises(ClientError) as caught:
        client.wait("j", poll_s=0.01, timeout=0.05)

    assert caught.value.status is None and "did not end within" in str(caught.value)


def test_from_env_reads_url_and_key() -> None:
    headers: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        headers.append(request.headers.get("authorization"))
        return httpx.Response(200, json={"items": [], "total": 0, "limit": 20, "offset": 0})

    env = {"PRUNESEARCH_URL": "http://api:1234/", "PRUNESEARCH_API_KEY": "ps_abc"}
    with Client.from_env(env, transport=httpx.MockTransport(handler)) as client:
        assert client.base_url == "http://api:1234"
        assert client.jobs().total == 0
    with Client.from_env({}) as anonymous:
        assert anonymous.base_url == "http://127.0.0.1:8000"

    assert headers == ["Bearer ps_abc"]


def test_a_bundle_with_an_unsafe_path_is_not_extracted(tmp_path: Path) -> None:
    import io
    import zipfile

    payload = io.BytesIO()
    with zipfile.ZipFile(payload, "w") as archive:
        archive.writestr("../evil.txt", "x")
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=payload.getvalue()))

    with Client("http://api", transport=transport) as client, pytest.raises(ClientError):
        client.download("j", tmp_path / "out")

    assert not (tmp_path / "evil.txt").exists()
    assert not (tmp_path / "out").exists()  # nothing extracted, and no empty folder left
