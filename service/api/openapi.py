"""The OpenAPI document: FastAPI's, without FastAPI's own validation error schema, which
this API never sends (every error is :class:`ErrorOut`). The job spec's schema is FastAPI's
own: POST /v1/jobs declares its body as a :class:`search.SearchSpec`."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

__all__ = ["install_openapi"]

_FASTAPI_ERRORS = ("HTTPValidationError", "ValidationError")


def install_openapi(app: FastAPI) -> None:
    """Make ``app.openapi()`` build (once) the document described above."""

    def build() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _document(app)
        return app.openapi_schema

    app.openapi = build  # type: ignore[method-assign]


def _document(app: FastAPI) -> dict[str, Any]:
    document = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    schemas: dict[str, Any] = document.setdefault("components", {}).setdefault("schemas", {})
    leftover = [name for name in _FASTAPI_ERRORS if name in schemas]
    if any(_FASTAPI_ERRORS[0] in str(path) for path in document["paths"].values()):
        raise RuntimeError("a route documents FastAPI's validation error: give it 422 ErrorOut")
    for name in leftover:
        del schemas[name]
    return document
