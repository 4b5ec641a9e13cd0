"""Fixtures for the workers: a MemoryStore over SQLite Optuna storage, a dispatcher that
records what would be queued, and the tiny job's (tests/specs.py) trained reference model."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest

from search import SearchSpec, prepare
from tests.specs import TINY
from tests.workers.memory_store import MemoryStore
from workers import Dispatcher, WorkerOptions, runner

optuna.logging.set_verbosity(optuna.logging.WARNING)

# Many jobs of one owner per test: the owner's running limit has tests of its own
# (test_fair.py), and stays out of the way of the others.
OPTIONS = WorkerOptions(slice_trials=2, slice_seconds=120, max_running_per_owner=16)


class RecordingDispatcher(Dispatcher):
    """Keeps what would be queued, in order, instead of running it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []
        self.countdowns: list[float] = []  # one per call
        self._lock = threading.Lock()

    def enqueue(
        self, task: str, job_id: str, *, queue: str = "cpu", countdown_s: float = 0.0
    ) -> None:
        with self._lock:
            self.calls.append((task, job_id, queue))
            self.countdowns.append(countdown_s)

    def tasks(self) -> list[str]:
        return [task for task, _, _ in self.calls]


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="session")
def trained_reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """TINY's unpruned model, trained once for the session."""
    path = tmp_path_factory.mktemp("reference") / "small_cnn.safetensors"
    prepare(SearchSpec.parse(TINY), reference_weights=path)
    return path


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> MemoryStore:
    return MemoryStore(tmp_path, f"sqlite:///{tmp_path / 'optuna.db'}", clock=clock)


@pytest.fixture
def submit(store: MemoryStore, trained_reference: Path) -> Any:
    """Submit a spec; its reference weights are the session's (training them costs most)."""

    def submit(spec: dict[str, Any], **kwargs: Any) -> str:
        job_id = store.submit(spec, **kwargs)
        target = store.reference_path(job_id)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(trained_reference, target)
        return job_id

    return submit


@pytest.fixture
def recorder() -> RecordingDispatcher:
    return RecordingDispatcher()


@pytest.fixture(autouse=True)
def _fresh_sessions() -> Iterator[None]:
    yield
    runner.sessions.clear()
