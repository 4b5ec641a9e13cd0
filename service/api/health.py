"""Liveness and readiness: /healthz answers while the process runs; /readyz when the
database (at the current schema) and the broker, if one is configured, answer too."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from kombu.connection import Connection
from sqlalchemy import text

from service.api.deps import DatabaseDep, SettingsDep
from service.api.schemas import HealthOut, ReadyOut
from service.db import Database, schema_is_current

router = APIRouter(tags=["health"])

BROKER_TIMEOUT_S = 2.0


@router.get("/healthz", response_model=HealthOut)
def healthz() -> HealthOut:
    return HealthOut()


@router.get("/readyz", response_model=ReadyOut, responses={503: {"model": ReadyOut}})
def readyz(response: Response, database: DatabaseDep, settings: SettingsDep) -> ReadyOut:
    checks = {"database": check_database(database)}
    checks["broker"] = check_broker(settings.broker_url) if settings.broker_url else "embedded"
    ready = all(value in ("ok", "embedded") for value in checks.values())
    if not ready:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return ReadyOut(status="ready" if ready else "unavailable", checks=checks)


def check_database(database: Database) -> str:
    try:
        with database.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        if not schema_is_current(database.engine):
            return "schema is not at the latest revision: run `prunesearch migrate`"
    except Exception as exc:
        return f"unreachable: {type(exc).__name__}: {exc}".splitlines()[0]
    return "ok"


def check_broker(url: str) -> str:
    try:
        with Connection(url, connect_timeout=BROKER_TIMEOUT_S) as connection:  # type: ignore[no-untyped-call]
            connection.ensure_connection(max_retries=1, interval_start=0, timeout=BROKER_TIMEOUT_S)
    except Exception as exc:
        return f"unreachable: {type(exc).__name__}: {exc}".splitlines()[0]
    return "ok"
