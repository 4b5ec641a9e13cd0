"""The OpenAPI document describes the errors the API sends: ErrorOut ({detail, field}) for
every error status, never FastAPI's HTTPValidationError, with the statuses each route can
answer (test_api_schemathesis checks the answers against it)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from search import SearchSpec
from search.spec import BudgetSpec, DataSpec, FinetuneSpec, ModelSpec, SearchOptions
from service.app import create_app
from service.settings import Settings
from tests.service.factories import RecordingDispatcher

ERROR_REF = "#/components/schemas/ErrorOut"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    app = create_app(Settings(database_url="sqlite://"), dispatcher=RecordingDispatcher())
    return app.openapi()


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    ]


def test_the_error_schema_is_the_one_sent(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert "ValidationError" not in schemas
    error = schemas["ErrorOut"]
    assert error["required"] == ["detail"]
    assert error["properties"]["detail"]["type"] == "string"
    field_types = {choice.get("type") for choice in error["properties"]["field"]["anyOf"]}
    assert field_types == {"string", "null"}


def test_every_error_status_is_documented_as_error_out(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        for status, answer in operation["responses"].items():
            if int(status) >= 400 and path != "/readyz":
                schema = answer["content"]["application/json"]["schema"]
                assert schema == {"$ref": ERROR_REF}, (method, path, status)


@pytest.mark.parametrize(
    ("method", "path", "statuses"),
    [
        ("GET", "/v1/jobs", {401, 403, 422, 500, 503}),
        ("POST", "/v1/jobs", {400, 401, 403, 413, 415, 422, 429, 500, 503}),
        ("POST", "/v1/artifacts", {400, 401, 403, 413, 422, 500, 503}),
        ("GET", "/v1/jobs/{job_id}", {401, 403, 404, 422, 500, 503}),
        ("DELETE", "/v1/jobs/{job_id}", {401, 403, 404, 409, 422, 500, 503}),
        ("GET", "/v1/jobs/{job_id}/candidates/{number}", {401, 403, 404, 422, 500, 503}),
        ("GET", "/healthz", {403, 500}),
        ("GET", "/readyz", {403, 500, 503}),
    ],
)
def test_routes_document_the_statuses_they_can_answer(
    document: dict[str, Any], method: str, path: str, statuses: set[int]
) -> None:
    operation = document["paths"][path][method.lower()]
    documented = {int(status) for status in operation["responses"] if int(status) >= 400}
    assert documented == statuses


def test_unavailable_says_when_to_retry(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        if path.startswith("/v1/"):
            assert "Retry-After" in operation["responses"]["503"]["headers"], (method, path)
            assert "WWW-Authenticate" in operation["responses"]["401"]["headers"], (method, path)


def test_job_submission_documents_the_spec(document: dict[str, Any]) -> None:
    body = document["paths"]["/v1/jobs"]["post"]["requestBody"]
    schema = body["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/SearchSpec"}
    spec = document["components"]["schemas"]["SearchSpec"]
    assert set(spec["properties"]) == set(SearchSpec.model_fields)
    for ref in _refs(spec):
        assert ref.removeprefix("#/components/schemas/") in document["components"]["schemas"]


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if "$ref" in node else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def test_openapi_json_shows_the_job_spec_fields() -> None:
    app = create_app(Settings(database_url="sqlite://"), dispatcher=RecordingDispatcher())
    document = TestClient(app).get("/openapi.json").json()  # no lifespan: nothing to open

    operation = document["paths"]["/v1/jobs"]["post"]
    assert operation["requestBody"]["required"] is True
    content = operation["requestBody"]["content"]["application/json"]
    assert content["schema"] == {"$ref": "#/components/schemas/SearchSpec"}
    assert "digits" in content["examples"]
    schemas = document["components"]["schemas"]
    spec = schemas["SearchSpec"]
    assert set(spec["properties"]) == {"name", "model", "data", "budget", "search", "finetune"}
    assert spec["additionalProperties"] is False  # unknown fields are refused
    assert set(spec["required"]) == {"model", "budget"}
    for section, model in [
        ("model", ModelSpec),
        ("data", DataSpec),
        ("budget", BudgetSpec),
        ("search", SearchOptions),
        ("finetune", FinetuneSpec),
    ]:
        assert set(schemas[model.__name__]["properties"]) == set(model.model_fields), section
    assert "max_macs" in schemas["BudgetSpec"]["properties"]
