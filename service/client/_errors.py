"""The client's exceptions: one tree rooted at :class:`ClientError`, shaped like httpx's.

A failure with no answer is a :class:`TransportError`; an answer with an error status is an
:class:`HTTPStatusError`, of the class its status (and, for an unreachable budget, its
``smallest`` figure) names, built from the API's error JSON ``{"detail", "field",
"smallest"}`` by :func:`error_from_response`. The tree is drawn in :mod:`service.client`.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

__all__ = [
    "BudgetUnreachable",
    "ClientError",
    "Conflict",
    "Forbidden",
    "HTTPStatusError",
    "NotFound",
    "RequestRejected",
    "RequestTimeout",
    "ServerSideError",
    "TooLarge",
    "TooManyJobs",
    "TransportError",
    "Unauthorized",
    "Unavailable",
    "UnexpectedAnswer",
    "ValidationFailed",
    "WaitTimeout",
    "error_from_response",
]


class ClientError(Exception):
    """A request that did not succeed.

    Attributes:
        status: the HTTP status (4xx: the request is at fault; 5xx: the server), or None
            when no answer came (connection refused, timeout, a wait that ran out).
        detail: what went wrong, as the API words it.
        field: the request field at fault (``budget.max_macs``, ``file``), when there is one.
        smallest: for an unreachable budget, the smallest achievable figure.
    """

    def __init__(
        self,
        detail: str,
        *,
        status: int | None = None,
        field: str | None = None,
        smallest: float | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status
        self.field = field
        self.smallest = smallest

    def __str__(self) -> str:
        suffix = f" (field {self.field})" if self.field else ""
        return f"{self.detail}{suffix}"

    @property
    def is_client_side(self) -> bool:
        """A 4xx: fixing the request (spec, id, key) is what helps; retrying does not."""
        return self.status is not None and 400 <= self.status < 500


class TransportError(ClientError):
    """No answer came: the server is not running, not reachable, or the connection broke."""


class RequestTimeout(TransportError):  # noqa: N818 (reads as what happened)
    """No answer within the client's timeout."""


class WaitTimeout(ClientError):  # noqa: N818 (reads as what happened)
    """:meth:`Client.wait` ran out of time before the job ended (the job goes on)."""


class UnexpectedAnswer(ClientError):  # noqa: N818 (reads as what happened)
    """A successful answer the client cannot read (a server of another version?)."""


class HTTPStatusError(ClientError):
    """The API answered with an error status (4xx or 5xx); ``status`` is always set."""

    status: int


class RequestRejected(HTTPStatusError):  # noqa: N818 (reads as the HTTP status)
    """400 or 415: a body the API cannot read (malformed multipart, not JSON)."""


class Unauthorized(HTTPStatusError):  # noqa: N818 (reads as the HTTP status)
    """401: no API key, or an unknown or revoked one."""


class Forbidden(HTTPStatusError):  # noqa: N818 (reads as the HTTP status)
    """403: the server refuses to answer (auth off on an address others can reach)."""


class NotFound(HTTPStatusError):  # noqa: N818 (reads as the HTTP status)
    """404: no such object of yours (another owner's ids answer this too, by design)."""


class Conflict(HTTPStatusError):  # noqa: N818 (reads as the HTTP status)
    """409: the request clashes with the object's state (cancelling a finished job)."""


class TooLarge(HTTPStatusError):  # noqa: N818 (reads as the HTTP status)
    """413: the body, or what an upload inflates to, is over the server's limit."""


class ValidationFailed(HTTPStatusError):  # noqa: N818 (reads as the HTTP status)
    """422: a field is invalid or over a limit; ``field`` names it."""


class BudgetUnreachable(ValidationFailed):
    """422 for a budget no policy can meet; ``smallest`` is the smallest achievable figure."""

    smallest: float


class TooManyJobs(HTTPStatusError):  # noqa: N818 (reads as the refusal it is)
    """429: the owner has as many jobs queued as the server takes; retry after
    ``retry_after`` s, once one has started (or cancel one)."""

    def __init__(self, detail: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        self.retry_after = retry_after


class ServerSideError(HTTPStatusError):
    """5xx: the server failed on the request; the request itself may be fine."""


class Unavailable(ServerSideError):  # noqa: N818 (reads as the HTTP status)
    """503: the database or the broker is not answering; retry after ``retry_after`` s."""

    def __init__(self, detail: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        self.retry_after = retry_after


_BY_STATUS: dict[int, type[HTTPStatusError]] = {
    400: RequestRejected,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: TooLarge,
    415: RequestRejected,
    422: ValidationFailed,
}


def error_from_response(response: httpx.Response) -> HTTPStatusError:
    """The :class:`HTTPStatusError` for a 4xx/5xx ``response`` (its body must have been
    read), of the class its status says."""
    body = _json(response)
    detail = body.get("detail") if isinstance(body, dict) else None
    field = body.get("field") if isinstance(body, dict) else None
    smallest = body.get("smallest") if isinstance(body, dict) else None
    if isinstance(detail, list):
        # FastAPI's own validation shape (a route outside our error handler).
        detail = "; ".join(str(item.get("msg", item)) for item in detail if isinstance(item, dict))
    if not isinstance(detail, str) or not detail:
        text = response.text.strip()[:300]
        detail = f"HTTP {response.status_code} {response.reason_phrase}" + (
            f": {text}" if text else ""
        )
    status = response.status_code
    fields: dict[str, Any] = {
        "status": status,
        "field": field if isinstance(field, str) else None,
        "smallest": float(smallest) if isinstance(smallest, int | float) else None,
    }
    if status == 503:
        return Unavailable(detail, retry_after=_seconds(response), **fields)
    if status == 429:
        return TooManyJobs(detail, retry_after=_seconds(response), **fields)
    if status == 422 and fields["smallest"] is not None:
        return BudgetUnreachable(detail, **fields)
    kind = _BY_STATUS.get(status) or (ServerSideError if status >= 500 else HTTPStatusError)
    return kind(detail, **fields)


def _seconds(response: httpx.Response) -> float | None:
    # Retry-After in seconds (the API's form); an HTTP date is read as "unknown".
    value = response.headers.get("retry-after", "").strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
