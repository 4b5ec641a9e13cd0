"""The one error handler: every error becomes JSON ``{"detail": ..., "field": ...}``.

Every error body has the same shape, ``{"detail": message, "field": dotted.path | null}``
(plus ``smallest`` for an unreachable budget), whichever layer raised it: the service
(each :class:`ServiceError` carries its status), the search spec, the pruning library,
FastAPI's own request validation (query parameters, headers), Starlette's routing (404 for
an unknown path, 405), the database (503 with Retry-After while it does not answer), and
anything else (500, logged, without internals in the body).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, InterfaceError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException

from pruning import DataError, PruningError, ZooError
from search import BudgetError, SpecError, first_problem
from service.exceptions import (
    ArtifactError,
    AuthError,
    FieldError,
    ServiceError,
    ServiceUnavailable,
    TooManyJobs,
)
from workers import is_transient

__all__ = ["HANDLED", "FieldError", "describe", "error_response", "install_error_handler"]

log = logging.getLogger(__name__)

# What the handler answers with a status of its own; anything else is a bug: a 500.
HANDLED: tuple[type[Exception], ...] = (
    ServiceError,
    SpecError,
    PruningError,
    RequestValidationError,
    HTTPException,
    DBAPIError,
    PoolTimeout,
)
_REQUEST_PARTS = {"body", "query", "path", "header", "cookie"}


def install_error_handler(app: FastAPI) -> None:
    for error in (*HANDLED, Exception):
        app.add_exception_handler(error, error_response)


async def error_response(request: Request, exc: Exception) -> JSONResponse:
    """The response for ``exc`` (registered for each class of :data:`HANDLED`, and for
    ``Exception``, which Starlette answers from its outermost middleware)."""
    status, body = describe(exc)
    if isinstance(exc, HTTPException) and exc.detail in ("Not Found", "Method Not Allowed"):
        # Starlette's routing says only "Not Found": say what was not found.
        path = request.url.path if len(request.url.path) <= 200 else request.url.path[:200] + "..."
        what = "no such route" if status == 404 else f"method {request.method} not allowed on"
        body["detail"] = f"{what}: {path}"
    headers: dict[str, str] = {}
    if isinstance(exc, HTTPException) and exc.headers:
        headers.update(exc.headers)  # e.g. Allow on a 405
    if isinstance(exc, AuthError):
        headers["WWW-Authenticate"] = "Bearer"
    if status == 503:
        headers["Retry-After"] = str(ServiceUnavailable.retry_after_s)
    if isinstance(exc, TooManyJobs):
        headers["Retry-After"] = str(exc.retry_after_s)
    if status == 500:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse(body, status_code=status, headers=headers or None)


def describe(exc: Exception) -> tuple[int, dict[str, Any]]:
    """HTTP status and JSON body for ``exc``."""
    if isinstance(exc, RequestValidationError):
        return 422, _validation_body(exc)
    if isinstance(exc, HTTPException):
        return exc.status_code, {"detail": str(exc.detail), "field": None}
    if _database_down(exc):
        detail = "the database is not answering; try again shortly"
        return 503, {"detail": detail, "field": None}
    if not isinstance(exc, ServiceError | SpecError | PruningError):
        return 500, {"detail": "internal error: the server failed on this request", "field": None}
    body: dict[str, Any] = {"detail": str(exc), "field": _field(exc)}
    if isinstance(exc, BudgetError):
        body["smallest"] = exc.smallest
    if isinstance(exc, ServiceError):
        return exc.status_code, body
    return 422, body  # SpecError, PruningError: the request's content is at fault


def _database_down(exc: Exception) -> bool:
    # A refused or dropped connection, an exhausted pool, a locked SQLite file: the
    # database may answer again soon. Other database errors are bugs (500).
    if isinstance(exc, PoolTimeout | InterfaceError):
        return True
    return isinstance(exc, DBAPIError) and is_transient(exc)


def _field(exc: Exception) -> str | None:
    field = getattr(exc, "field", None)
    if isinstance(field, str):
        return field
    if isinstance(exc, ArtifactError):
        return "file"  # the uploaded file itself
    if isinstance(exc, DataError):
        return "data"
    if isinstance(exc, ZooError):
        return "model"
    return None


def _validation_body(exc: RequestValidationError) -> dict[str, Any]:
    errors = list(exc.errors())
    if errors and errors[0].get("type") == "json_invalid":
        return {"detail": f"the body is not valid JSON: {errors[0].get('msg')}", "field": None}
    problem = first_problem(errors, drop_first=_REQUEST_PARTS)
    return {"detail": str(problem), "field": problem.field}
