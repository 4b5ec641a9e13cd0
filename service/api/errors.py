"""The one error handler: library and service errors become 4xx JSON naming the field.

Every error body has the same shape, ``{"detail": message, "field": dotted.path | null}``
(plus ``smallest`` for an unreachable budget), whichever layer raised it: the service
(each :class:`ServiceError` carries its status), the search spec, the pruning library, or
FastAPI's own request validation (query parameters, headers, a body that is not JSON).
"""

from __future__ import annotations

from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from pruning.exceptions import DataError, PruningError, ZooError
from search import BudgetError, SpecError
from service.exceptions import ArtifactError, AuthError, ServiceError

__all__ = ["HANDLED", "FieldError", "error_response", "install_error_handler"]

# What the handler answers; anything else is a bug and stays a 500.
HANDLED: tuple[type[Exception], ...] = (
    ServiceError,
    SpecError,
    PruningError,
    RequestValidationError,
)
_REQUEST_PARTS = {"body", "query", "path", "header", "cookie"}


class FieldError(ArtifactError):
    """A bad request field outside a job spec (an upload's form fields): 422 naming it."""

    status_code: ClassVar[int] = 422

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


def install_error_handler(app: FastAPI) -> None:
    for error in HANDLED:
        app.add_exception_handler(error, error_response)


async def error_response(request: Request, exc: Exception) -> JSONResponse:
    """The response for ``exc`` (registered for each class of :data:`HANDLED`)."""
    status, body = describe(exc)
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, AuthError) else None
    return JSONResponse(body, status_code=status, headers=headers)


def describe(exc: Exception) -> tuple[int, dict[str, Any]]:
    """HTTP status and JSON body for ``exc``."""
    if isinstance(exc, RequestValidationError):
        return 422, _validation_body(exc)
    body: dict[str, Any] = {"detail": str(exc), "field": _field(exc)}
    if isinstance(exc, BudgetError):
        body["smallest"] = exc.smallest
    if isinstance(exc, ServiceError):
        return exc.status_code, body
    return 422, body  # SpecError, PruningError: the request's content is at fault


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
    if not errors:
        return {"detail": "invalid request", "field": None}
    first = errors[0]
    if first.get("type") == "json_invalid":
        return {"detail": f"the body is not valid JSON: {first.get('msg')}", "field": None}
    location = [str(part) for part in first.get("loc", ())]
    if location and location[0] in _REQUEST_PARTS:
        location = location[1:]
    field = ".".join(location) or None
    message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    more = len(errors) - 1
    suffix = f" (and {more} more error{'s' if more > 1 else ''})" if more else ""
    detail = f"{field}: {message}{suffix}" if field else message + suffix
    return {"detail": detail, "field": field}
