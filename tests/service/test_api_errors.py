"""The one error handler: routing errors, bugs and the database's own errors all answer
JSON ``{"detail", "field"}``, never Starlette's text/plain."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import DataError, OperationalError

from service.api.errors import describe
from service.app import create_app
from service.settings import Settings
from tests.service.factories import RecordingDispatcher


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'db'}", artifact_dir=tmp_path)
    app = create_app(settings, dispatcher=RecordingDispatcher())

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals")

    return TestClient(app, raise_server_exceptions=False)


def test_an_unknown_route_is_404_json(client: TestClient) -> None:
    response = client.get("/v1/nothing-here")

    assert response.status_code == 404
    assert response.json() == {"detail": "no such route: /v1/nothing-here", "field": None}


def test_a_wrong_method_is_405_json_with_allow(client: TestClient) -> None:
    response = client.put("/healthz")

    assert response.status_code == 405
    assert response.headers["allow"] == "GET"
    assert response.json()["detail"] == "method PUT not allowed on: /healthz"


def test_a_bug_is_500_json_without_internals(client: TestClient) -> None:
    response = client.get("/boom")

    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    assert response.json()["field"] is None
    assert "secret" not in response.text


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (OperationalError("SELECT 1", {}, Exception("connection refused")), 503),
        (OperationalError("SELECT 1", {}, Exception("server closed the connection")), 503),
        (DataError("INSERT", {}, Exception("value out of range")), 500),
    ],
    ids=["refused", "dropped", "data-error-is-a-bug"],
)
def test_database_errors(error: Exception, status: int) -> None:
    assert describe(error)[0] == status
