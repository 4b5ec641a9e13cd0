"""The app itself: auth (401s, auth off on loopback only), wiring, health, readiness, metrics."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pydantic
import pytest
from fastapi.testclient import TestClient

from service.app import InsecureSettings, create_app
from service.auth import revoke_key
from service.jobs import ImportanceCache, StudyStorages
from service.models import JobStatus
from service.settings import Settings
from service.ui import Dashboards
from tests.service.factories import ApiEnv, RecordingDispatcher, api_env, make_job
from workers import CeleryDispatcher, EmbeddedDispatcher


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiEnv]:
    root = tmp_path_factory.mktemp("app-api")
    with api_env(f"sqlite:///{root / 'db.sqlite'}", root / "store") as e:
        yield e


def _settings(env: ApiEnv, **changes: object) -> Settings:
    return Settings(
        database_url=env.settings.database_url,
        artifact_dir=env.settings.artifact_dir,
        **changes,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer ps_not-a-key"},
        {"Authorization": "Basic YWxpY2U6c2VjcmV0"},
        {"Authorization": "Bearer "},
    ],
    ids=["missing", "wrong", "not-bearer", "empty"],
)
def test_without_a_valid_key_every_route_is_401(env: ApiEnv, headers: dict[str, str]) -> None:
    for method, path in [
        ("GET", "/v1/jobs"),
        ("POST", "/v1/jobs"),
        ("GET", "/v1/jobs/0123456789abcdef0123456789abcdef/leaderboard"),
        ("DELETE", "/v1/jobs/0123456789abcdef0123456789abcdef"),
        ("POST", "/v1/artifacts"),
        ("GET", "/v1/artifacts/0123456789abcdef0123456789abcdef"),
    ]:
        response = env.client.request(method, path, headers=headers)
        assert response.status_code == 401, (method, path)
        assert response.headers["www-authenticate"] == "Bearer"
        assert "API key" in response.json()["detail"]


def test_a_revoked_key_is_401(env: ApiEnv) -> None:
    headers = env.key("leaver")
    assert env.client.get("/v1/jobs", headers=headers).status_code == 200
    with env.database.session() as session:
        revoke_key(session, headers["Authorization"].removeprefix("Bearer "))

    assert env.client.get("/v1/jobs", headers=headers).status_code == 401


def test_auth_off_on_loopback_makes_everything_local(env: ApiEnv) -> None:
    with env.database.session() as session:
        make_job(session, "local")
        make_job(session, "alice")
    app = create_app(_settings(env, auth=False), dispatcher=RecordingDispatcher())

    with TestClient(app) as client:
        listed = client.get("/v1/jobs").json()

    assert listed["total"] == 1  # the local owner's jobs, not alice's


@pytest.mark.parametrize(
    "changes",
    [{"host": "0.0.0.0"}, {"host": "192.168.1.10"}, {"broker_url": "redis://127.0.0.1:6379/0"}],
    ids=["any-address", "lan", "broker"],
)
def test_auth_off_is_refused_unless_embedded_on_loopback(
    env: ApiEnv, changes: dict[str, str]
) -> None:
    with pytest.raises(pydantic.ValidationError, match="loopback"):
        _settings(env, auth=False, **changes)
    # Settings copied without validation are caught by the app itself.
    unchecked = _settings(env, auth=False).model_copy(update=changes)
    with pytest.raises(InsecureSettings, match="refusing to start with auth off"):
        create_app(unchecked)


def test_execution_is_embedded_without_a_broker_and_celery_with_one(env: ApiEnv) -> None:
    with TestClient(create_app(_settings(env))) as client:
        dispatcher = client.app.state.dispatcher  # type: ignore[attr-defined]
        assert isinstance(dispatcher, EmbeddedDispatcher)
    assert dispatcher.join(timeout=0)  # shut down with the app

    with TestClient(create_app(_settings(env, broker_url="redis://127.0.0.1:6379/15"))) as client:
        assert isinstance(client.app.state.dispatcher, CeleryDispatcher)  # type: ignore[attr-defined]


def test_health_and_readiness(env: ApiEnv) -> None:
    assert env.client.get("/healthz").json() == {"status": "ok"}
    ready = env.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "broker": "embedded"}


@pytest.mark.parametrize(
    ("broker", "status"),
    [("redis://127.0.0.1:6379/15", 200), ("redis://127.0.0.1:1/0", 503)],
    ids=["redis-up", "broker-down"],
)
def test_readiness_pings_the_broker(env: ApiEnv, broker: str, status: int) -> None:
    app = create_app(_settings(env, broker_url=broker), dispatcher=RecordingDispatcher())
    with TestClient(app) as client:
        response = client.get("/readyz")

    assert response.status_code == status
    assert (response.json()["checks"]["broker"] == "ok") == (status == 200)


def test_readiness_reports_a_database_that_is_not_migrated(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'empty.db'}", artifact_dir=tmp_path)
    with TestClient(create_app(settings, dispatcher=RecordingDispatcher())) as client:
        response = client.get("/readyz")

    assert response.status_code == 503
    assert "prunesearch migrate" in response.json()["checks"]["database"]


def test_metrics(env: ApiEnv) -> None:
    with env.database.session() as session:
        make_job(session, "metrics", status=JobStatus.RUNNING, trials_done=3, trials_failed=1)

    text = env.client.get("/metrics").text

    assert 'prunesearch_jobs{status="running"}' in text
    assert 'prunesearch_jobs{status="queued"}' in text
    assert 'prunesearch_trials_total{outcome="done"} 3.0' in text
    assert 'prunesearch_trials_total{outcome="failed"} 1.0' in text
    assert "prunesearch_database_up 1.0" in text


def test_openapi_lists_every_route(env: ApiEnv) -> None:
    paths = env.client.get("/openapi.json").json()["paths"]

    assert {
        "/v1/artifacts",
        "/v1/artifacts/{artifact_id}",
        "/v1/jobs",
        "/v1/jobs/{job_id}",
        "/v1/jobs/{job_id}/leaderboard",
        "/v1/jobs/{job_id}/best",
        "/v1/jobs/{job_id}/best/model",
        "/healthz",
        "/readyz",
        "/metrics",
    } <= set(paths)
    assert "multipart/form-data" in paths["/v1/artifacts"]["post"]["requestBody"]["content"]
    assert env.client.get("/docs").status_code == 200


def test_the_lifespan_makes_the_apps_state_and_closes_it(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'db.sqlite'}", artifact_dir=tmp_path)
    app = create_app(settings, dispatcher=RecordingDispatcher())
    assert not hasattr(app.state, "study_storages")  # nothing is made before startup
    with TestClient(app):
        state = app.state
        assert isinstance(state.study_storages, StudyStorages)
        assert isinstance(state.importance_cache, ImportanceCache)
        assert isinstance(state.optuna_dashboards, Dashboards)
        assert state.study_storages.default_url == settings.database_url
        state.study_storages.storage()
        assert len(state.study_storages) == 1
    assert len(state.study_storages) == 0  # closed at shutdown
