"""Schemathesis over the whole OpenAPI document, job submission included: no server error,
and every answer (status, content type, headers, body) as the document says.

The app runs on PostgreSQL (where NUL characters and integer ranges bite) with the
recording dispatcher, so an accepted job is stored and queued but never run: specs cost
only their validation. Path ids are pointed at real objects so that the routes get past
their 404s and the other parameters are exercised. Generation is derandomized (the same
cases every run) and bounded per operation.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from service.app import create_app
from service.models import JobStatus
from service.settings import Settings
from tests.service.factories import (
    ApiEnv,
    RecordingDispatcher,
    add_candidates,
    api_env,
    candidate_row,
    make_artifact,
    make_job,
    npz_bytes,
    postgres_database,
)

MAX_EXAMPLES = 40
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


class Target:
    def __init__(self, env: ApiEnv) -> None:
        self.env = env
        self.headers = env.key("fuzzer")
        with env.session() as session:
            job = make_job(session, "fuzzer", status=JobStatus.RUNNING)
            add_candidates(session, [candidate_row(job.id, number) for number in range(5)])
            store = env.artifacts()
            artifact = make_artifact(session, store, "fuzzer", npz_bytes(), filename="d.npz")
            self.job_id, self.artifact_id = job.id, artifact.id


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    root = tmp_path_factory.mktemp("schemathesis")
    # Small limits keep generated uploads and specs cheap; the bounds are what is tested.
    with postgres_database() as url, api_env(url, root / "store", max_upload_mb=1) as env:
        yield Target(env)


# The document comes from an app built for it alone (same code, so the same document);
# every call goes to the module's running app (``app=`` below). schemathesis's
# from_fixture does not run on this pytest.
schema = schemathesis.openapi.from_asgi(
    "/openapi.json",
    create_app(Settings(database_url="sqlite://"), dispatcher=RecordingDispatcher()),
)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_keeps_to_its_document(case: Any, target: Target) -> None:
    if case.path_parameters:
        # About half the cases on the real job (chosen from the generated id, so the same
        # ones every run), the others on whatever id was generated.
        job_id = case.path_parameters.get("job_id")
        if isinstance(job_id, str) and zlib.crc32(job_id.encode()) % 2 == 0:
            case.path_parameters["job_id"] = target.job_id
        if "artifact_id" in case.path_parameters:
            case.path_parameters["artifact_id"] = target.artifact_id
    case.call_and_validate(app=target.env.client.app, headers=target.headers, checks=CHECKS)
