"""The operator and client commands: ``serve``, ``worker``, ``migrate``, ``keys create``,
and ``submit``/``watch``/``leaderboard``/``download``/``cancel`` over REST.

The client commands run in-process (typer's CliRunner) against a live server (uvicorn in a
thread, embedded, SQLite, auth on); one tiny job, submitted with ``submit --wait``, serves
the module. ``serve`` and ``worker`` also start for real as processes, briefly.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml
from sqlalchemy import create_engine
from typer.testing import CliRunner, Result

from pruning import load_bundle
from service.cli import app
from service.client import Client
from service.db import migrate, schema_is_current
from service.settings import get_settings
from tests.service.test_client import TINY_SPEC, LiveApi, live_api, small_cnn

PRUNESEARCH = Path(sys.executable).with_name("prunesearch")


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    # The commands read settings through the cached getter; each test sets its own env.
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    with live_api(tmp_path_factory.mktemp("cli-api")) as live:
        yield live


def run(args: list[str], env: Mapping[str, str | None]) -> Result:
    # A None value removes the variable for the call (CliRunner's convention).
    return CliRunner().invoke(app, args, env=env)


def client_env(api: LiveApi) -> dict[str, str]:
    return {"PRUNESEARCH_URL": api.url, "PRUNESEARCH_API_KEY": api.token}


@dataclass(frozen=True)
class Submitted:
    job_id: str
    result: Result


@pytest.fixture(scope="module")
def submitted(api: LiveApi, tmp_path_factory: pytest.TempPathFactory) -> Submitted:
    spec = tmp_path_factory.mktemp("spec") / "tiny.yaml"
    spec.write_text(yaml.safe_dump({**TINY_SPEC, "name": "cli-commands"}))
    result = run(["submit", str(spec), "--wait", "--poll", "0.5"], client_env(api))
    return Submitted(result.stdout.splitlines()[0].strip(), result)


def test_submit_wait_follows_the_job_and_prints_the_leaderboard(submitted: Submitted) -> None:
    result = submitted.result
    assert result.exit_code == 0, result.output
    assert len(submitted.job_id) == 32
    assert f"job {submitted.job_id} succeeded" in result.stderr
    assert "◆ uniform" in result.stdout and "◆ global" in result.stdout
    assert "Gain over uniform" in result.stdout


def test_watch_of_a_finished_job_ends_at_once_with_the_best(
    api: LiveApi, submitted: Submitted
) -> None:
    result = run(["watch", submitted.job_id], client_env(api))

    assert result.exit_code == 0, result.output
    assert "3/3" in result.stderr and "Best final" in result.stdout


def test_leaderboard_filters_by_kind_and_limit(api: LiveApi, submitted: Submitted) -> None:
    only_uniform = run(["leaderboard", submitted.job_id, "--kind", "uniform"], client_env(api))
    feasible = run(["leaderboard", submitted.job_id, "--feasible", "--limit", "1"], client_env(api))

    assert only_uniform.exit_code == 0, only_uniform.output
    assert "◆ uniform" in only_uniform.stdout and "◆ global" not in only_uniform.stdout
    assert "1-1 of 1" in only_uniform.stdout
    assert feasible.exit_code == 0 and "1-1 of 3" in feasible.stdout


def test_download_writes_a_bundle_that_loads(
    api: LiveApi, submitted: Submitted, tmp_path: Path
) -> None:
    bundle = run(["download", submitted.job_id, "--out", str(tmp_path / "b")], client_env(api))
    weights = run(
        ["download", submitted.job_id, "--format", "safetensors", "--out", str(tmp_path / "w.st")],
        client_env(api),
    )

    assert bundle.exit_code == 0, bundle.output
    assert load_bundle(tmp_path / "b", small_cnn) is not None
    assert weights.exit_code == 0, weights.output
    assert (tmp_path / "w.st").read_bytes() == (tmp_path / "b" / "model.safetensors").read_bytes()


def test_cancel_of_a_finished_job_exits_2_with_the_api_message(
    api: LiveApi, submitted: Submitted
) -> None:
    result = run(["cancel", submitted.job_id], client_env(api))

    assert result.exit_code == 2
    assert f"error: job {submitted.job_id} is already succeeded" in result.stderr
    assert "Traceback" not in result.output


def test_client_errors_exit_2_for_4xx_and_1_without_a_server(api: LiveApi, tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(yaml.safe_dump({**TINY_SPEC, "budget": {"max_macs": 0.4, "bogus": 1}}))
    bad_field = run(["submit", str(spec)], client_env(api))
    unknown = run(["watch", "no-such-job"], client_env(api))
    no_key = run(["leaderboard", "x"], {"PRUNESEARCH_URL": api.url, "PRUNESEARCH_API_KEY": ""})
    no_server = run(["watch", "x"], {"PRUNESEARCH_URL": "http://127.0.0.1:9"})

    assert bad_field.exit_code == 2 and "(field budget.bogus)" in bad_field.stderr
    assert unknown.exit_code == 2 and unknown.stderr.startswith("error: ")
    assert no_key.exit_code == 2 and "PRUNESEARCH_API_KEY" in no_key.stderr
    assert no_server.exit_code == 1 and "cannot reach the prunesearch API" in no_server.stderr


def test_watch_of_a_failed_job_exits_1_printing_its_error(
    api: LiveApi, submitted: Submitted, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Client(api.url, api.token) as client:
        job = client.job(submitted.job_id).model_dump(mode="json")
    failed = job | {"status": "failed", "error": "the data could not be loaded"}
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=failed))
    monkeypatch.setattr(
        Client, "from_env", classmethod(lambda cls: cls("http://x", transport=transport))
    )

    result = run(["watch", submitted.job_id], {})

    assert result.exit_code == 1
    assert "the data could not be loaded" in result.stderr


def test_keys_create_prints_a_token_that_authenticates(api: LiveApi) -> None:
    result = run(
        ["keys", "create", "--owner", "bob"], {"PRUNESEARCH_DATABASE_URL": api.database_url}
    )

    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    with Client(api.url, token) as bob:
        assert bob.jobs().total == 0  # authenticated, and bob sees none of tester's jobs


def test_migrate_creates_the_schema_in_a_fresh_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    result = run(["migrate"], {"PRUNESEARCH_DATABASE_URL": url})
    again = run(["migrate"], {"PRUNESEARCH_DATABASE_URL": url})

    assert result.exit_code == 0, result.output
    assert again.exit_code == 0, again.output
    engine = create_engine(url)
    assert schema_is_current(engine)
    engine.dispose()


def test_serve_refuses_auth_off_on_a_public_address() -> None:
    result = run(["serve", "--host", "0.0.0.0"], {"PRUNESEARCH_AUTH": "false"})

    assert result.exit_code == 2
    assert "refusing to start with auth off" in result.stderr


def test_worker_without_a_broker_exits_2() -> None:
    unset = run(["worker"], {"PRUNESEARCH_BROKER_URL": None})
    empty = run(["worker"], {"PRUNESEARCH_BROKER_URL": ""})

    assert unset.exit_code == 2 and "no broker configured" in unset.stderr
    assert empty.exit_code == 2 and "no broker configured" in empty.stderr


def test_each_worker_process_gets_its_own_node_name_unless_one_is_given() -> None:
    from service.cli._ops import worker_argv
    from service.settings import Settings

    settings = Settings(broker_url="redis://127.0.0.1:6379/0")

    default = worker_argv(settings, "cpu", 1, beat=False)
    named = worker_argv(settings, "cpu", 1, beat=False, hostname="w1@%h")

    node = default[default.index("--hostname") + 1]
    # Unique per process (two workers on one host are two workers), expanded by Celery.
    assert node == f"prunesearch-{os.getpid()}@%h"
    assert named[named.index("--hostname") + 1] == "w1@%h"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _process_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRUNESEARCH_")}
    return env | {f"PRUNESEARCH_{key.upper()}": value for key, value in values.items()}


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


def test_serve_answers_on_its_port(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    migrate(url)
    port = _free_port()
    env = _process_env(database_url=url, artifact_dir=str(tmp_path / "store"))
    with (tmp_path / "serve.log").open("wb") as log:
        process = subprocess.Popen(
            [str(PRUNESEARCH), "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            ready = _poll(lambda: httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200)
            denied = httpx.get(f"http://127.0.0.1:{port}/v1/jobs").status_code
        finally:
            _stop(process)
    assert ready, (tmp_path / "serve.log").read_text()
    assert denied == 401  # auth is on by default


def test_worker_starts_with_the_sweeper_on_redis(tmp_path: Path) -> None:
    env = _process_env(
        database_url=f"sqlite:///{tmp_path / 'worker.db'}",
        broker_url="redis://127.0.0.1:6379/13",
        artifact_dir=str(tmp_path / "store"),
    )
    path = tmp_path / "worker.log"
    with path.open("wb") as log:
        process = subprocess.Popen(
            [str(PRUNESEARCH), "worker", "--concurrency", "1", "--beat"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            ready = _poll(lambda: "ready." in path.read_text(errors="replace"))
        finally:
            _stop(process)
    text = path.read_text(errors="replace")
    assert ready, text
    assert "beat: Starting" in text
    assert "[queues]" in text and ".> cpu" in text and "cuda" not in text


def _poll(check: Callable[[], bool], timeout: float = 90.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return True
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(0.3)
    return False
