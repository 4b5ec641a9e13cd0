"""The workers' exception tree: one base, each error also the built-in it replaced."""

from __future__ import annotations

from pathlib import Path

import pytest

import workers
from tests.workers.memory_store import MemoryStore
from workers import (
    BrokerUnavailable,
    EmbeddedDispatcher,
    InvalidOptions,
    JobStatus,
    NoBroker,
    NotConfigured,
    UnknownTask,
    WorkerOptions,
    WorkersError,
    make_celery,
)
from workers.app import configured


@pytest.mark.parametrize(
    ("error", "builtin"),
    [
        (InvalidOptions, ValueError),
        (NoBroker, ValueError),
        (UnknownTask, ValueError),
        (NotConfigured, RuntimeError),
        (BrokerUnavailable, ConnectionError),
    ],
)
def test_every_error_is_a_workers_error_and_its_old_builtin(
    error: type[Exception], builtin: type[Exception]
) -> None:
    assert issubclass(error, WorkersError) and issubclass(error, builtin)
    assert error.__name__ in workers.__all__


def test_what_the_workers_raise_is_in_the_tree(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(InvalidOptions, match="slice_trials"):
        WorkerOptions(slice_trials=0)
    with pytest.raises(NoBroker, match="embedded"):
        make_celery(WorkerOptions())
    monkeypatch.setattr("workers.app._state.config", None)
    with pytest.raises(NotConfigured, match=r"workers\.configure"):
        configured()


def test_a_dispatcher_refuses_an_unknown_task(tmp_path: Path) -> None:
    store = MemoryStore(tmp_path, "sqlite://")
    dispatcher = EmbeddedDispatcher(store, WorkerOptions(), sweep_every_s=None)
    try:
        with pytest.raises(UnknownTask, match="unknown task"):
            dispatcher.enqueue("workers.nope", "job")
    finally:
        dispatcher.shutdown()


def test_the_job_status_is_one_enum_below_the_service() -> None:
    from service.models import JobStatus as ServiceJobStatus

    assert ServiceJobStatus is JobStatus
    # The values are what the database's job_status column stores: they never change.
    assert [s.value for s in JobStatus] == [
        "queued",
        "running",
        "finalizing",
        "succeeded",
        "failed",
        "cancelled",
    ]
    assert {s for s in JobStatus if s.is_final} == {
        JobStatus.SUCCEEDED,
        JobStatus.FAILED,
        JobStatus.CANCELLED,
    }
    assert JobStatus.RUNNING == "running"  # a StrEnum: compares with the stored string


def test_the_port_and_options_load_without_celery_or_the_search_stack() -> None:
    import subprocess
    import sys

    code = (
        "import sys, workers; workers.WorkerOptions(); workers.JobStatus('queued'); "
        "print('\\n'.join(sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert not {"celery", "optuna", "torch", "search"} & set(out.stdout.split())
