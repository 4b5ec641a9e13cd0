"""The chaos suite's own PostgreSQL cluster and Redis server: started from the installed
binaries in a temporary folder on spare ports, stopped, crashed and restarted at will. The
shared services of the other tests are never touched.

A missing binary fails the suite, saying what to install (under ``CI=true`` and anywhere
else): it is part of the test command and is never skipped.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.integration.processes import free_port, tail

_PG_GLOB = "/usr/lib/postgresql/*/bin"


def require(binary: str, found: str | None, package: str) -> str:
    """``found``, or fail naming what to install."""
    if found:
        return found
    pytest.fail(f"the chaos suite needs {binary} (Debian package {package}); install it")


def _pg_bin() -> str:
    folders = sorted(glob.glob(_PG_GLOB), key=lambda p: int(Path(p).parent.name))
    found = folders[-1] if folders and Path(folders[-1], "initdb").exists() else None
    return require("initdb and pg_ctl", found, "postgresql")


def _as_postgres_user() -> list[str]:
    """initdb refuses to run as root: there, run the cluster as the ``postgres`` user."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        pytest.fail("running as root needs a 'postgres' user to own the chaos cluster")
    return [require("runuser", shutil.which("runuser"), "util-linux"), "-u", "postgres", "--"]


class PostgresCluster:
    """A throwaway cluster: ``initdb`` in a temp folder, ``pg_ctl`` start/stop on a port."""

    def __init__(self) -> None:
        self.bin = _pg_bin()
        self.prefix = _as_postgres_user()
        self.root = Path(tempfile.mkdtemp(prefix="prunesearch-chaos-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/prunesearch"
        if self.prefix:
            os.chmod(self.root, 0o755)
            shutil.chown(self.root, "postgres", "postgres")

    def _run(self, *args: str, timeout: float = 120.0) -> None:
        command = [*self.prefix, str(Path(self.bin, args[0])), *args[1:]]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(command)} exited {result.returncode}:\n{result.stdout}"
                f"{result.stderr}\n{tail(self.log)}"
            )

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")
        self.start()
        self._run(
            "createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "prunesearch"
        )

    def start(self) -> None:
        # fsync off: a test cluster; the faults here are connections lost, not power cuts.
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        """``fast``: connections are cut at once (what a restart or failover does)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def destroy(self) -> None:
        with contextlib.suppress(Exception):
            if self.running():
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


class RedisServer:
    """``redis-server`` on a spare port with append-only persistence in a temp folder,
    as the compose file runs it: a clean restart keeps the queues, a crash that loses the
    folder loses every message."""

    def __init__(self) -> None:
        self.binary = require("redis-server", shutil.which("redis-server"), "redis-server")
        self.root = Path(tempfile.mkdtemp(prefix="prunesearch-chaos-redis-"))
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log = self.root / "redis.log"
        self.popen: subprocess.Popen[bytes] | None = None

    @property
    def data(self) -> Path:
        return self.root / "data"

    def start(self) -> None:
        self.data.mkdir(exist_ok=True)
        args = [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data),
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--save",
            "",
            "--logfile",
            str(self.log),
        ]
        self.popen = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        import redis

        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        deadline = time.monotonic() + 30
        while True:
            try:
                if client.ping():
                    break
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start\n{tail(self.log)}") from None
                time.sleep(0.1)
        client.close()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """SIGTERM: a clean shutdown (the append-only file is kept); SIGKILL: a crash."""
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(sig)
            self.popen.wait(timeout=30)
        self.popen = None

    def lose_data(self) -> None:
        shutil.rmtree(self.data, ignore_errors=True)

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def destroy(self) -> None:
        self.stop(signal.SIGKILL)
        shutil.rmtree(self.root, ignore_errors=True)
