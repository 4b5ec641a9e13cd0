"""Requests handed to a dashboard's WSGI app, through a2wsgi's one thread pool."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from a2wsgi import WSGIMiddleware
from a2wsgi.wsgi_typing import Environ, StartResponse, WSGIApp
from fastapi import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from service.ui._dashboard._importances import own_importance_cache

__all__ = ["Forward"]

_APP_KEY = "prunesearch.dashboard_app"  # the scope key a2wsgi's thread finds the app under
_STORAGE_KEY = "prunesearch.storage_key"  # which storage the study lives in


class Forward(Response):
    """Hands the request to the dashboard's WSGI app, in a2wsgi's threads, with the mount as
    its SCRIPT_NAME and the rest of the path as its PATH_INFO."""

    def __init__(self, app: WSGIApp, base: str, path: str, *, storage_key: str) -> None:
        super().__init__()
        self.app = app
        self.base = base
        self.path = "/" + path.lstrip("/")
        self.storage_key = storage_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        forwarded = {**scope, "root_path": self.base, "path": self.base + self.path}
        forwarded[_APP_KEY] = self.app
        forwarded[_STORAGE_KEY] = self.storage_key
        await _wsgi_server(forwarded, receive, send)


def _dispatch(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    scope = cast(dict[str, Any], environ)["asgi.scope"]
    app = cast(WSGIApp, scope[_APP_KEY])
    if not environ.get("PATH_INFO", "").endswith("/param_importances"):
        return app(environ, start_response)
    with own_importance_cache(cast(str, scope[_STORAGE_KEY])):
        return list(app(environ, start_response))  # computed inside, while the cache is ours


# One thread pool for every job's dashboard.
_wsgi_server = cast(ASGIApp, WSGIMiddleware(_dispatch, workers=8))
