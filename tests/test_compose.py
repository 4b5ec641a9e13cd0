"""docker-compose.yml and the Dockerfile, checked without a Docker engine (none runs here).

The YAML is parsed and its services, commands, environment, volumes and healthchecks are
checked against what the service needs; the environment is also validated by the
service's own Settings. ``docker compose config`` (or the standalone ``docker-compose``)
validates the file against the Compose schema where the client has compose; a Docker
client without the compose plugin skips that one test, saying so.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from service.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
_DEFAULTED = re.compile(r"\$\{(\w+):-([^}]*)\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def command(service: dict[str, Any]) -> str:
    value = service["command"]
    return value if isinstance(value, str) else " ".join(value)


def interpolated(value: str) -> str:
    # Compose's ${VAR:-default}, with the default (what a fresh checkout gets).
    return _DEFAULTED.sub(lambda match: match.group(2), value)


def test_the_services_are_all_there(compose: dict[str, Any]) -> None:
    assert set(services(compose)) == {"postgres", "redis", "api", "worker", "beat", "flower"}


def test_postgres_and_redis_persist_and_report_health(compose: dict[str, Any]) -> None:
    postgres, redis = services(compose)["postgres"], services(compose)["redis"]
    assert any(v.endswith(":/var/lib/postgresql/data") for v in postgres["volumes"])
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert "--appendonly yes" in command(redis)
    assert any(v.endswith(":/data") for v in redis["volumes"])
    assert "ping" in redis["healthcheck"]["test"]
    assert {"postgres-data", "redis-data", "artifacts"} <= set(compose["volumes"])


def test_the_api_migrates_then_serves_with_auth_on(compose: dict[str, Any]) -> None:
    api = services(compose)["api"]
    text = command(api)
    assert text.index("prunesearch migrate") < text.index("prunesearch serve --host 0.0.0.0")
    assert api["environment"]["PRUNESEARCH_AUTH"] == "true"
    assert "/readyz" in " ".join(api["healthcheck"]["test"])
    for dependency in ("postgres", "redis"):
        assert api["depends_on"][dependency]["condition"] == "service_healthy"


@pytest.mark.parametrize("name", ["api", "worker", "beat"])
def test_the_prunesearch_services_share_settings_and_the_artifact_volume(
    compose: dict[str, Any], name: str
) -> None:
    service = services(compose)[name]
    env = service["environment"]
    assert interpolated(env["PRUNESEARCH_DATABASE_URL"]).startswith("postgresql://")
    assert "@postgres:5432/" in env["PRUNESEARCH_DATABASE_URL"]
    assert env["PRUNESEARCH_BROKER_URL"] == "redis://redis:6379/0"
    assert f"artifacts:{env['PRUNESEARCH_ARTIFACT_DIR']}" in service["volumes"]
    # Every variable is one Settings knows, and together they are valid settings.
    fields = {f"PRUNESEARCH_{field.upper()}" for field in Settings.model_fields}
    assert set(env) <= fields
    values = {key.removeprefix("PRUNESEARCH_").lower(): interpolated(v) for key, v in env.items()}
    settings = Settings.model_validate(values)
    assert settings.auth and not settings.embedded
    assert settings.database_url.startswith("postgresql+psycopg://")


def test_workers_scale_and_one_beat_runs_the_sweeper(compose: dict[str, Any]) -> None:
    worker, beat = services(compose)["worker"], services(compose)["beat"]
    assert command(worker).startswith("prunesearch worker")
    # --scale needs replicas without a fixed name or a published port.
    assert "container_name" not in worker and "ports" not in worker
    assert worker["depends_on"]["api"]["condition"] == "service_healthy"
    assert "service.worker:celery_app beat" in command(beat)
    assert "--beat" not in command(worker)  # one sweeper, however many workers


def test_flower_watches_the_broker_on_loopback(compose: dict[str, Any]) -> None:
    flower = services(compose)["flower"]
    assert flower["image"].startswith("mher/flower")
    assert flower["environment"]["CELERY_BROKER_URL"] == "redis://redis:6379/0"
    assert all(port.startswith("127.0.0.1:") for port in flower["ports"])


def test_the_dockerfile_installs_cpu_torch_before_the_project() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert [line for line in text.splitlines() if line.startswith("FROM")] == [
        "FROM python:3.11-slim"
    ]
    assert "TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu" in text
    torch_line = text.index('--index-url "${TORCH_INDEX_URL}"')
    assert torch_line < text.index('pip install -e ".[export]"')
    assert "COPY migrations" in text  # prunesearch migrate reads them beside the sources


def _compose_command() -> list[str] | None:
    docker = shutil.which("docker")
    if docker is not None:
        probe = subprocess.run([docker, "compose", "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return [docker, "compose"]
    standalone = shutil.which("docker-compose")
    return [standalone] if standalone is not None else None


def test_docker_compose_config_accepts_the_file() -> None:
    tool = _compose_command()
    if tool is None:
        pytest.skip(
            "no compose here: the docker client lacks the compose plugin (`docker compose` is "
            "an unknown command) and no docker-compose is installed; the YAML is checked above"
        )
    done = subprocess.run(
        [*tool, "-f", str(COMPOSE), "config", "-q"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
