"""An API server in a background thread of this process, on a port the OS picks.

For ``prunesearch demo`` and the tests: the socket is bound before uvicorn starts, so
there is no window in which another process could take a "free" port first.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from service.exceptions import ServerError

if TYPE_CHECKING:
    import uvicorn
    from fastapi import FastAPI

__all__ = ["ServerError", "serve_in_thread"]

_START_TIMEOUT_S = 60.0
_STOP_TIMEOUT_S = 120.0


@contextmanager
def serve_in_thread(app: FastAPI, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve ``app`` on ``host`` at a free port; yields its base URL, stops on exit.

    Stopping runs the app's lifespan end (the embedded dispatcher lets its running task
    finish), so leave once the jobs you started are over, or expect a wait.
    """
    import uvicorn  # here: the CLI's other commands must not pay for (or need) it

    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    # Access logs off: the caller shows what matters; warnings and errors still appear.
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="prunesearch-api", daemon=True
    )
    thread.start()
    try:
        _wait_started(server, thread)
        yield f"http://{host}:{port}" if ":" not in host else f"http://[{host}]:{port}"
    finally:
        server.should_exit = True
        thread.join(_STOP_TIMEOUT_S)
        sock.close()
        if thread.is_alive():
            raise ServerError(f"the API server did not stop within {_STOP_TIMEOUT_S:g} s")


def _wait_started(server: uvicorn.Server, thread: threading.Thread) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive():
            raise ServerError("the API server stopped while starting (see the log above)")
        if time.monotonic() > deadline:
            raise ServerError(f"the API server did not start within {_START_TIMEOUT_S:g} s")
        time.sleep(0.05)
