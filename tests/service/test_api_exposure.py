"""Auth off is served on loopback only, judged by the address actually bound: a real uvicorn
process bound to 0.0.0.0 refuses every request (PRUNESEARCH_HOST is not what it binds);
bound to 127.0.0.1 it serves."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from service.api.exposure import listening_hosts
from service.db import Database, migrate
from service.models import Job
from tests.service.factories import SPEC

_START_TIMEOUT_S = 90.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@contextmanager
def uvicorn_process(folder: Path, host: str) -> Iterator[str]:
    """``uvicorn --factory service.app:create_app --host HOST`` with auth off and the
    settings' own host left at its loopback default; its URL over 127.0.0.1."""
    url = f"sqlite:///{folder / 'api.db'}"
    migrate(url)
    port = free_port()
    env = {
        **os.environ,
        "PRUNESEARCH_AUTH": "false",
        "PRUNESEARCH_DATABASE_URL": url,
        "PRUNESEARCH_ARTIFACT_DIR": str(folder / "store"),
    }
    env.pop("PRUNESEARCH_HOST", None)
    command = [sys.executable, "-m", "uvicorn", "--factory", "service.app:create_app"]
    command += ["--host", host, "--port", str(port), "--log-level", "warning"]
    log = (folder / "uvicorn.log").open("wb")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + _START_TIMEOUT_S
        while True:
            assert process.poll() is None, (folder / "uvicorn.log").read_text()
            try:
                httpx.get(base + "/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "uvicorn did not start"
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=60)
        log.close()


def jobs_stored(folder: Path) -> int:
    database = Database(f"sqlite:///{folder / 'api.db'}")
    with database.session() as session:
        count = session.scalar(select(func.count()).select_from(Job)) or 0
    database.dispose()
    return count


def test_auth_off_bound_to_any_address_refuses_to_serve(tmp_path: Path) -> None:
    with uvicorn_process(tmp_path, "0.0.0.0") as base:
        listed = httpx.get(base + "/v1/jobs", timeout=30)
        submitted = httpx.post(base + "/v1/jobs", json=SPEC, timeout=30)
        health = httpx.get(base + "/healthz", timeout=30)

    for response in (listed, submitted, health):
        assert response.status_code == 403, response.text
        body = response.json()
        assert "auth is off" in body["detail"]
        assert "0.0.0.0" in body["detail"]
    assert jobs_stored(tmp_path) == 0


def test_auth_off_bound_to_loopback_serves(tmp_path: Path) -> None:
    with uvicorn_process(tmp_path, "127.0.0.1") as base:
        listed = httpx.get(base + "/v1/jobs", timeout=30)

    assert listed.status_code == 200, listed.text
    assert listed.json()["total"] == 0


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0"])
def test_listening_hosts_reads_this_process_sockets(host: str) -> None:
    with socket.socket() as server:
        server.bind((host, 0))
        server.listen()
        port = server.getsockname()[1]
        with socket.socket() as unused:  # bound, not listening: not a server
            unused.bind(("127.0.0.1", 0))
            assert listening_hosts(unused.getsockname()[1]) == ()
        assert listening_hosts(port) == (host,)
    assert listening_hosts(port) == ()
