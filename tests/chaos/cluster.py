"""The chaos suite's deployment: its own PostgreSQL and Redis (tests/chaos/services.py), the
API (uvicorn), two ``prunesearch worker`` processes and celery beat (the sweeper), with
heartbeats, grace and sweeps shortened so that every recovery takes seconds.

Before each test :meth:`Cluster.heal` brings back whatever the previous test broke, so each
scenario starts from a whole deployment.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import sys
from pathlib import Path

import httpx
import pytest

from tests.chaos.services import PostgresCluster, RedisServer
from tests.integration.processes import (
    START_TIMEOUT_S,
    Process,
    Stack,
    spawn,
    wait_for,
)

PRUNESEARCH = str(Path(sys.executable).with_name("prunesearch"))

# Shortened so that each recovery takes seconds: a job no task beats for STALE_AFTER_S is
# recovered by the next sweep (every SWEEP_INTERVAL_S), a trial silent for TRIAL_GRACE_S
# is failed and retried. Slices are short, and a task outlives none of it.
STALE_AFTER_S = 8
SWEEP_INTERVAL_S = 2
TRIAL_GRACE_S = 10
WORKER_HEARTBEAT_S = 1
MAX_PARALLELISM = 3  # the workers' bound (the API's own bound is left wide open)
CHAOS_ENV = {
    "PRUNESEARCH_AUTH": "true",
    "PRUNESEARCH_SLICE_TRIALS": "2",
    "PRUNESEARCH_SLICE_SECONDS": "8",
    "PRUNESEARCH_TASK_TIME_LIMIT_S": "60",
    "PRUNESEARCH_VISIBILITY_TIMEOUT_S": "90",
    "PRUNESEARCH_HEARTBEAT_INTERVAL_S": "2",
    "PRUNESEARCH_TRIAL_GRACE_S": str(TRIAL_GRACE_S),
    "PRUNESEARCH_STALE_AFTER_S": str(STALE_AFTER_S),
    "PRUNESEARCH_SWEEP_INTERVAL_S": str(SWEEP_INTERVAL_S),
    "PRUNESEARCH_WORKER_HEARTBEAT_S": str(WORKER_HEARTBEAT_S),
    "PRUNESEARCH_OUTAGE_TOLERANCE_S": "120",
    "PRUNESEARCH_MAX_PARALLELISM": str(MAX_PARALLELISM),
    "PRUNESEARCH_LOG_LEVEL": "INFO",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "PYTHONUNBUFFERED": "1",
}
# What a fault may cost on top of the job itself: a stale period, a sweep, a trial's grace.
RECOVERY_S = STALE_AFTER_S + SWEEP_INTERVAL_S + TRIAL_GRACE_S


class Cluster:
    """The deployment; each part can be broken and :meth:`heal` restores them all."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.postgres = PostgresCluster()
        self.redis = RedisServer()
        self.stack = Stack(
            self.postgres.url,
            self.redis.url,
            root / "artifacts",
            root / "logs",
            {
                **CHAOS_ENV,
                "PRUNESEARCH_DATABASE_URL": self.postgres.url,
                "PRUNESEARCH_BROKER_URL": self.redis.url,
                "PRUNESEARCH_ARTIFACT_DIR": str(root / "artifacts"),
            },
        )
        self.api: Process | None = None
        self.api_url = ""
        self.client = httpx.Client(timeout=30.0)
        self.workers: list[Process] = []
        self.beat: Process | None = None
        self._spawned = 0

    # -- start and heal -------------------------------------------------------------------

    def start(self) -> None:
        from service.db import migrate

        self.postgres.init()
        self.redis.start()
        migrate(self.postgres.url)
        self.heal()

    def heal(self) -> None:
        """Every part up again: databases, API, two workers, the sweeper."""
        if not self.postgres.running():
            self.postgres.start()
        if not self.redis.running():
            self.redis.start()
        if self.api is None or not self.api.alive():
            self.start_api()
        self.workers = [w for w in self.workers if w.alive()]
        while len(self.workers) < 2:
            self.start_worker()
        if self.beat is None or not self.beat.alive():
            self.start_beat()

    def start_api(self) -> None:
        from tests.integration.processes import free_port

        port = free_port()
        # The API's own input bounds are not under test here: its parallelism bound wide.
        env = {**self.stack.env, "PRUNESEARCH_HOST": "127.0.0.1", "PRUNESEARCH_PORT": str(port)}
        env["PRUNESEARCH_MAX_PARALLELISM"] = "1000000"
        args = [sys.executable, "-m", "uvicorn", "--factory", "service.app:create_app"]
        args += ["--host", "127.0.0.1", "--port", str(port)]
        self.api = self._spawn("api", args, env)
        self.api_url = f"http://127.0.0.1:{port}"
        self.client = httpx.Client(base_url=self.api_url, timeout=30.0)
        api = self.api

        def ready() -> bool:
            if not api.alive():
                pytest.fail(f"the API exited with {api.popen.returncode}\n{api.tail()}")
            with contextlib.suppress(httpx.HTTPError):
                return self.client.get("/readyz").status_code == 200
            return False

        wait_for(ready, timeout=START_TIMEOUT_S, what="the API's /readyz", on_timeout=api.tail)

    def start_worker(self) -> Process:
        """``prunesearch worker`` as an operator starts it: no --hostname (each process
        names itself), its own temp folder (to see it write a bundle)."""
        self._spawned += 1
        name = f"worker-{self._spawned}"
        tmp = self.root / "tmp" / name
        tmp.mkdir(parents=True, exist_ok=True)
        env = {**self.stack.env, "TMPDIR": str(tmp)}
        args = [PRUNESEARCH, "worker", "--queues", "cpu", "--concurrency", "1"]
        worker = self._spawn(name, args, env)
        wait_for(
            lambda: _ready(worker),
            timeout=START_TIMEOUT_S,
            what=f"{worker.name} to be ready",
            on_timeout=worker.tail,
        )
        self.workers.append(worker)
        return worker

    def worker_tmp(self, worker: Process) -> Path:
        return self.root / "tmp" / worker.name

    def start_beat(self) -> None:
        args = [sys.executable, "-m", "celery", "-A", "service.worker:celery_app", "beat"]
        args += ["--schedule", str(self.root / "beat-schedule"), "--loglevel", "INFO"]
        self.beat = self._spawn("beat", args, self.stack.env)

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> Process:
        process = spawn(name, args, env, self.stack.log_dir / f"{name}.log")
        self.stack.processes.append(process)
        return process

    # -- faults ----------------------------------------------------------------------------

    def node_name(self, worker: Process) -> str:
        """The Celery node name the worker gave itself (its default)."""
        return f"prunesearch-{worker.pid}@{socket.gethostname()}"

    def stop(self) -> None:
        for process in self.stack.processes:
            process.stop()
        self.client.close()
        self.redis.destroy()
        self.postgres.destroy()

    def tails(self) -> str:
        live = [p for p in self.stack.processes if p in self.workers or p in (self.api, self.beat)]
        dead = [p for p in self.stack.processes if p not in live][-3:]
        return "\n".join(p.tail(40) for p in dead + live)


def _ready(worker: Process) -> bool:
    if not worker.alive():
        pytest.fail(f"{worker.name} exited with {worker.popen.returncode}\n{worker.tail()}")
    return " ready." in worker.log_text()


def terminate(process: Process) -> None:
    """SIGTERM to the process alone, as an orchestrator stops a container."""
    with contextlib.suppress(ProcessLookupError):
        process.popen.send_signal(signal.SIGTERM)
