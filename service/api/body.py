"""JSON request bodies read strictly: bounded in size and depth, finite numbers, storable.

Python's ``json`` accepts ``NaN``, ``Infinity`` and ``1e400`` (as infinity), integers of any
size, NUL characters and nesting until the interpreter's recursion limit. None of these
is a job spec: the database cannot store them (PostgreSQL refuses NUL in text and
out-of-range integers) and no numeric setting means them. Each is refused here with 422
naming the field, before the body reaches validation or the database.

:class:`StrictJsonRoute` puts this reading under FastAPI's own: a route declares its body
as a model (so OpenAPI and /docs show it, and FastAPI validates it), and the body FastAPI
reads is this one. A refused body answers only once the caller is known (the route
depends on :func:`refuse_unread_body`), so a request without a key still gets 401.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from service.api.deps import OwnerDep, get_settings
from service.exceptions import (
    BodyTooLarge,
    InvalidJsonError,
    ServiceError,
    UnsupportedMediaType,
)

__all__ = [
    "INT64_MAX",
    "MAX_DEPTH",
    "InvalidJsonError",
    "StrictJsonRoute",
    "UnsupportedMediaType",
    "parse_json",
    "read_body",
    "read_json",
    "refuse_unread_body",
]

MAX_DEPTH = 32  # a job spec nests 3 levels; kwargs a few more
INT64_MAX = 2**63 - 1


_REFUSAL = "prunesearch.body_refusal"  # the scope key of a body refused while read


class StrictJsonRoute(APIRoute):
    """A route whose JSON body FastAPI reads through :func:`read_json` (the limit:
    ``max_spec_bytes``). Give such a route the dependency :func:`refuse_unread_body`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # No Content-Type is read as JSON, as read_json does (FastAPI would not parse it).
        kwargs["strict_content_type"] = False
        super().__init__(*args, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handler(request: Request) -> Response:
            return await handle(_StrictJsonRequest(request.scope, request.receive))

        return handler


class _StrictJsonRequest(Request):
    """A request whose body is read, and parsed, by :func:`read_json` on first use.

    FastAPI reads the body before it solves any dependency, and answers 400 for any error
    raised while it does; so a refusal is kept in the scope (the body reads as empty) and
    raised by :func:`refuse_unread_body`, after authentication."""

    _value: Any = None

    async def body(self) -> bytes:
        if not hasattr(self, "_body"):
            try:
                raw = await read_body(self, max_bytes=get_settings(self).max_spec_bytes)
                self._value = parse_json(raw)
            except ServiceError as exc:
                self.scope[_REFUSAL] = exc
                raw = b""
            self._body = raw
        return self._body

    async def json(self) -> Any:
        await self.body()
        return self._value


async def refuse_unread_body(request: Request, _caller: OwnerDep) -> None:
    """Raise what reading the body refused (once the caller is known: 401 comes first).

    Raises:
        UnsupportedMediaType, BodyTooLarge, InvalidJsonError: as :func:`read_json` says.
    """
    refusal = request.scope.get(_REFUSAL)
    if isinstance(refusal, ServiceError):
        raise refusal


async def read_json(request: Request, *, max_bytes: int) -> Any:
    """The JSON value of ``request``'s body.

    Raises:
        UnsupportedMediaType: a Content-Type other than JSON (none at all is read as JSON).
        BodyTooLarge: more than ``max_bytes`` (declared or sent); nothing is kept.
        InvalidJsonError: not JSON, or a value refused (see the module's docstring).
    """
    return parse_json(await read_body(request, max_bytes=max_bytes))


async def read_body(request: Request, *, max_bytes: int) -> bytes:
    """``request``'s body, if it is declared JSON (or not declared) and at most ``max_bytes``.

    Raises:
        UnsupportedMediaType, BodyTooLarge: as :func:`read_json` says.
    """
    media = request.headers.get("content-type", "application/json").split(";")[0].strip()
    if media.lower() != "application/json" and not media.lower().endswith("+json"):
        raise UnsupportedMediaType(
            f"send the body as JSON (Content-Type: application/json), not {media[:100]!r}"
        )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise BodyTooLarge(_too_large(max_bytes))
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > max_bytes:
            raise BodyTooLarge(_too_large(max_bytes))
    return bytes(body)


def parse_json(body: bytes) -> Any:
    """``body`` as JSON, refused as :func:`read_json` says.

    Raises:
        InvalidJsonError: naming the field at fault where there is one.
    """
    if not body.strip():
        raise InvalidJsonError("the body is empty: send a JSON object")
    try:
        value = json.loads(body, parse_constant=_constant)
    except json.JSONDecodeError as exc:
        raise InvalidJsonError(f"the body is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise InvalidJsonError(f"the body is nested deeper than {MAX_DEPTH} levels") from exc
    except (UnicodeDecodeError, ValueError) as exc:  # bad UTF-8; an int of > 4300 digits
        raise InvalidJsonError(f"the body is not valid JSON: {str(exc)[:200]}") from exc
    _check(value, (), 0)
    return value


class _Constant(str):
    """``NaN``, ``Infinity`` or ``-Infinity`` as parsed: refused once its field is known."""


def _constant(name: str) -> _Constant:
    return _Constant(name)


def _check(value: Any, path: tuple[str, ...], depth: int) -> None:
    field = ".".join(path) or None
    where = f"{field}: " if field else ""
    if depth > MAX_DEPTH:
        raise InvalidJsonError(f"{where}nested deeper than {MAX_DEPTH} levels", field=field)
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, _Constant):
        message = f"{where}{value} is not a number JSON allows: send a finite number"
        raise InvalidJsonError(message, field=field)
    if isinstance(value, int):
        if not -INT64_MAX <= value <= INT64_MAX:
            raise InvalidJsonError(
                f"{where}{_digits(value)} is out of range (at most 2**63 - 1)", field=field
            )
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidJsonError(f"{where}a number too large to represent", field=field)
    elif isinstance(value, str):
        if "\x00" in value:
            raise InvalidJsonError(f"{where}contains a NUL character", field=field)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check(item, (*path, str(index)), depth + 1)
    elif isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key:
                raise InvalidJsonError(f"{where}a key contains a NUL character", field=field)
            _check(item, (*path, key), depth + 1)


def _digits(value: int) -> str:
    text = str(value)
    return text if len(text) <= 24 else f"a number of {len(text.lstrip('-'))} digits"


def _too_large(max_bytes: int) -> str:
    return f"the body is larger than {max_bytes // 1024} KiB; nothing was kept"
