"""A database outage: every /v1 route answers 503 JSON with Retry-After (never a 500
text/plain), /readyz says 503, and the API serves again once the database is back."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.auth import create_key
from service.db import Database, migrate
from service.settings import Settings
from tests.service.factories import SPEC, RecordingDispatcher, npz_bytes

ANY_ID = "0123456789abcdef0123456789abcdef"


def v1_operations(client: TestClient) -> list[tuple[str, str]]:
    """Every /v1 operation of the OpenAPI document, path parameters filled in."""
    document = client.get("/openapi.json").json()
    operations = []
    for path, methods in document["paths"].items():
        if path.startswith("/v1/"):
            filled = path.replace("{job_id}", ANY_ID).replace("{artifact_id}", ANY_ID)
            operations += [(method.upper(), filled.replace("{number}", "1")) for method in methods]
    return operations


def call(client: TestClient, method: str, path: str, headers: dict[str, str]) -> httpx.Response:
    if (method, path) == ("POST", "/v1/jobs"):
        return client.post(path, headers=headers, json=SPEC)
    if (method, path) == ("POST", "/v1/artifacts"):
        files = {"file": ("d.npz", npz_bytes())}
        return client.post(path, headers=headers, files=files, data={"kind": "data"})
    if (method, path) == ("GET", "/v1/compare"):  # a well-formed request: two job ids
        return client.get(path, headers=headers, params={"jobs": f"{ANY_ID},{ANY_ID[::-1]}"})
    return client.request(method, path, headers=headers)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize("auth", [True, False], ids=["auth-on", "auth-off"])
def test_every_v1_route_is_503_while_the_database_is_unreachable(
    tmp_path: Path, auth: bool
) -> None:
    # Nothing listens there: every connection is refused, as during a restart.
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/prunesearch"
    settings = Settings(database_url=url, artifact_dir=tmp_path / "store", auth=auth)
    headers = {"Authorization": "Bearer ps_whatever"} if auth else {}

    with TestClient(create_app(settings, dispatcher=RecordingDispatcher())) as client:
        operations = v1_operations(client)
        assert len(operations) >= 10
        for method, path in operations:
            response = call(client, method, path, headers)
            assert response.status_code == 503, (method, path, response.text)
            assert response.headers["content-type"] == "application/json"
            assert int(response.headers["retry-after"]) > 0
            assert "database" in response.json()["detail"]
        assert client.get("/readyz").status_code == 503

    stored = tmp_path / "store"
    assert not stored.exists() or not [p for p in stored.rglob("*") if p.is_file()]


# -- a real PostgreSQL, stopped and started again --

PG_BIN = Path("/usr/lib/postgresql")


def _pg_tool(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(PG_BIN.glob(f"*/bin/{name}"))), None)
    if found is None:
        pytest.fail(f"{name} not found: install PostgreSQL's server package")
    return str(found)


class Cluster:
    """A throwaway PostgreSQL cluster under ``folder`` on a spare port (never the shared
    one), run as the ``postgres`` user when the tests run as root (initdb refuses root)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.data = folder / "data"
        self._as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *command: str) -> None:
        subprocess.run([*self._as_user, *command], check=True, capture_output=True, timeout=120)

    def init(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        if self._as_user:
            shutil.chown(self.folder, "postgres")
        self._run(_pg_tool("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(self.folder / "log")
        self._run(_pg_tool("pg_ctl"), "-D", str(self.data), "-o", options, "-l", log, "-w", "start")

    def stop(self) -> None:
        self._run(_pg_tool("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    folder = Path("/tmp") / f"prunesearch-outage-{os.getpid()}-{free_port()}"
    made = Cluster(folder)
    made.init()
    made.start()
    try:
        yield made
    finally:
        subprocess.run(
            [*made._as_user, _pg_tool("pg_ctl"), "-D", str(made.data), "-m", "immediate", "stop"],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(folder, ignore_errors=True)


def test_a_stopped_postgresql_is_503_and_the_api_recovers(cluster: Cluster, tmp_path: Path) -> None:
    migrate(cluster.url)
    database = Database(cluster.url)
    with database.session() as session:
        token = create_key(session, "alice")
    database.dispose()
    headers = {"Authorization": f"Bearer {token}"}
    settings = Settings(database_url=cluster.url, artifact_dir=tmp_path / "store")

    with TestClient(create_app(settings, dispatcher=RecordingDispatcher())) as client:
        assert client.get("/v1/jobs", headers=headers).status_code == 200
        cluster.stop()  # pooled connections now point at a dead server

        for method, path in v1_operations(client):
            response = call(client, method, path, headers)
            assert response.status_code == 503, (method, path, response.text)
            assert "retry-after" in response.headers

        cluster.start()
        assert client.get("/v1/jobs", headers=headers).status_code == 200
        assert client.post("/v1/jobs", headers=headers, json=SPEC).status_code == 202
