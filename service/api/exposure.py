"""Auth off is safe only on loopback: checked against the sockets actually listening.

``PRUNESEARCH_HOST`` says where ``prunesearch serve`` binds, but ``uvicorn --factory
service.app:create_app --host 0.0.0.0`` binds where its own flag says and never tells the
app. So with auth off, each request is checked against the address the request came in on
and the addresses this process listens on at that port (read from its own sockets, once
per port): anything but loopback, and the request is refused (403) instead of served to
whoever can reach the machine.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator

from fastapi import Request

from service.exceptions import Exposed
from service.settings import is_loopback

__all__ = ["listening_hosts", "refuse_if_exposed"]

_LOCK = threading.Lock()
_INET = (socket.AF_INET, socket.AF_INET6)


def refuse_if_exposed(request: Request) -> None:
    """An app-wide dependency while auth is off.

    Raises:
        Exposed: the request came in on, or the server listens on, a non-loopback address.
    """
    server = request.scope.get("server")
    if not server or server[1] is None:
        return  # a Unix socket or an in-process transport: nothing listens on the network
    host, port = str(server[0]), int(server[1])
    state = request.app.state
    with _LOCK:
        cache: dict[int, tuple[str, ...]] | None = getattr(state, "listening_hosts", None)
        if cache is None:
            cache = state.listening_hosts = {}
        hosts = cache.get(port)
        if hosts is None:
            hosts = cache[port] = listening_hosts(port)
    public = [name for name in (host, *hosts) if _is_ip(name) and not is_loopback(name)]
    if public:
        raise Exposed(
            f"refusing to serve: auth is off (PRUNESEARCH_AUTH=false) but this server "
            f"listens on {public[0]}:{port}, which other machines can reach. Bind it to "
            "127.0.0.1 (uvicorn --host 127.0.0.1, prunesearch serve --host 127.0.0.1) or "
            "turn auth on and create keys with `prunesearch keys create`"
        )


def listening_hosts(port: int) -> tuple[str, ...]:
    """The addresses this process's listening TCP sockets on ``port`` are bound to."""
    found: list[str] = []
    for fd in _open_fds():
        try:
            sock = socket.socket(fileno=fd)  # family and type read from the descriptor
        except OSError:
            continue  # not a socket, or closed meanwhile
        try:
            if sock.family in _INET and sock.type == socket.SOCK_STREAM and _listening(sock):
                address = sock.getsockname()
                if address[1] == port:
                    found.append(str(address[0]))
        except OSError:
            pass
        finally:
            sock.detach()  # the descriptor is the server's: never close it
    return tuple(found)


def _listening(sock: socket.socket) -> bool:
    return bool(sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN))


def _open_fds() -> Iterator[int]:
    for folder in ("/proc/self/fd", "/dev/fd"):
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        yield from (int(name) for name in names if name.isdigit())
        return
    yield from range(os.sysconf("SC_OPEN_MAX"))


def _is_ip(name: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in name else socket.AF_INET, name)
    except OSError:
        return False
    return True
