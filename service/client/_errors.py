"""The client's one exception, built from the API's error JSON or from a transport failure."""

from __future__ import annotations

import json
from typing import Any

import httpx

__all__ = ["ClientError", "error_from_response"]


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


def error_from_response(response: httpx.Response) -> ClientError:
    """The :class:`ClientError` for a 4xx/5xx ``response`` (its body must have been read)."""
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
    return ClientError(
        detail,
        status=response.status_code,
        field=field if isinstance(field, str) else None,
        smallest=float(smallest) if isinstance(smallest, int | float) else None,
    )


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
