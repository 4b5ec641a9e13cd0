"""Real processes for the integration tests: the API server (uvicorn) and Celery workers,
each a subprocess in its own process group with its output in a log file, and bounded waits
that say what they waited for.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
# The execution settings every process of the suite shares. Small on purpose: slices end
# after 20 s, a task is killed after 50 s, Redis redelivers an unacknowledged task after
# 60 s, a trial heartbeats every 2 s (its grace is then the service's floor of 60 s).
EXECUTION_ENV = {
    "PRUNESEARCH_AUTH": "true",
    "PRUNESEARCH_SLICE_TRIALS": "4",
    "PRUNESEARCH_SLICE_SECONDS": "20",
    "PRUNESEARCH_TASK_TIME_LIMIT_S": "50",
    "PRUNESEARCH_VISIBILITY_TIMEOUT_S": "60",
    "PRUNESEARCH_HEARTBEAT_INTERVAL_S": "2",
    "PRUNESEARCH_STALE_AFTER_S": "300",
    "PRUNESEARCH_SWEEP_INTERVAL_S": "60",
    "PRUNESEARCH_LOG_LEVEL": "INFO",
    # Two cores shared by two workers and the API: one thread each.
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "PYTHONUNBUFFERED": "1",
}

START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 20.0
LOG_TAIL_LINES = 60


def wait_for(
    condition: Callable[[], Any],
    *,
    timeout: float,
    what: str,
    interval: float = 0.5,
    on_timeout: Callable[[], str] | None = None,
) -> Any:
    """Poll ``condition()`` until it returns something truthy (returned), or fail after
    ``timeout`` seconds saying ``what`` was awaited (plus ``on_timeout()``'s details)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            details = on_timeout() if on_timeout is not None else ""
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{details}")
        time.sleep(interval)


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text_ = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no log at {path}: {exc})"
    return "\n".join(text_.splitlines()[-lines:])


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Process:
    """A subprocess in its own process group (so that it and its children die together),
    its output going to ``log``."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def tail(self, lines: int = LOG_TAIL_LINES) -> str:
        return f"--- {self.name} (pid {self.pid}, log {self.log}) ---\n{tail(self.log, lines)}"

    def kill_group(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to the whole process group (a Celery worker and its pool child)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, sig)

    def stop(self) -> None:
        """SIGTERM the group, then SIGKILL whatever is left after a bounded wait."""
        if self.alive():
            self.kill_group(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=STOP_TIMEOUT_S)
        # Pool children outlive a parent killed hard: end the group in any case.
        self.kill_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=STOP_TIMEOUT_S)


def spawn(name: str, args: list[str], env: dict[str, str], log: Path) -> Process:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        popen = subprocess.Popen(
            args,
            cwd=REPO,
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Process(name=name, popen=popen, log=log)


@dataclass
class Stack:
    """What the processes share: the environment they are started with, and where logs go."""

    database_url: str
    broker_url: str
    artifact_dir: Path
    log_dir: Path
    env: dict[str, str]
    processes: list[Process] = field(default_factory=list)

    def tails(self) -> str:
        return "\n".join(process.tail() for process in self.processes)


@dataclass
class Api:
    url: str
    process: Process
    client: httpx.Client


@contextmanager
def start_api(stack: Stack, name: str = "api") -> Iterator[Api]:
    """An API server (uvicorn, the real app factory) with ``stack.env`` as its settings,
    ready (its /readyz answers) when the block starts, stopped when it ends."""
    port = free_port()
    env = {**stack.env, "PRUNESEARCH_HOST": "127.0.0.1", "PRUNESEARCH_PORT": str(port)}
    args = [sys.executable, "-m", "uvicorn", "--factory", "service.app:create_app"]
    args += ["--host", "127.0.0.1", "--port", str(port)]
    process = spawn(name, args, env, stack.log_dir / f"{name}.log")
    stack.processes.append(process)
    url = f"http://127.0.0.1:{port}"
    client = httpx.Client(base_url=url, timeout=30.0)

    def ready() -> bool:
        if not process.alive():
            pytest.fail(f"the API server exited with {process.popen.returncode}\n{process.tail()}")
        try:
            return client.get("/readyz").status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(ready, timeout=START_TIMEOUT_S, what="the API's /readyz", on_timeout=process.tail)
        yield Api(url=url, process=process, client=client)
    finally:
        client.close()
        process.stop()


class WorkerPool:
    """Celery worker processes (one pool child each, queue ``cpu``) started on demand and
    stopped when the pool closes."""

    def __init__(self, stack: Stack, label: str) -> None:
        self.stack = stack
        self.label = label
        self.workers: list[Process] = []

    def start(self, count: int = 1) -> list[Process]:
        started = [self._spawn(len(self.workers) + i + 1) for i in range(count)]
        self.workers.extend(started)
        for process in started:
            wait_for(
                functools.partial(self._ready, process),
                timeout=START_TIMEOUT_S,
                what=f"Celery worker {process.name} to be ready",
                on_timeout=process.tail,
            )
        return started

    def _spawn(self, number: int) -> Process:
        hostname = f"w{number}-{self.label}@{socket.gethostname()}"
        args = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "service.worker:celery_app",
            "worker",
            "-Q",
            "cpu",
            "--concurrency",
            "1",
            "--pool",
            "prefork",
            "--hostname",
            hostname,
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
        ]
        log = self.stack.log_dir / f"worker-{self.label}-{number}.log"
        process = spawn(hostname, args, self.stack.env, log)
        self.stack.processes.append(process)
        return process

    @staticmethod
    def _ready(process: Process) -> bool:
        if not process.alive():
            pytest.fail(
                f"worker {process.name} exited with {process.popen.returncode}\n{process.tail()}"
            )
        return " ready." in process.log_text()

    def tails(self) -> str:
        return "\n".join(worker.tail() for worker in self.workers)

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()
