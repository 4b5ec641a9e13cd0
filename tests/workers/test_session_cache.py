"""The sessions a worker process keeps between tasks: the least recently used dropped."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

import workers._session_cache as session_cache
from tests.workers.conftest import OPTIONS
from workers._session_cache import SessionCache


class Run:
    """Stands for a JobRun (the cache only rebinds its callback)."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self.callback = SimpleNamespace(rebind=lambda store: None)


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    made: list[str] = []

    def build(store: Any, ticket: Any, options: Any) -> Run:
        made.append(ticket.id)
        return Run(ticket.id)

    monkeypatch.setattr(session_cache, "build", build)
    return made


def _lend(cache: SessionCache, job_id: str) -> Any:
    store = SimpleNamespace(storage_url="sqlite://")
    ticket = SimpleNamespace(id=job_id, study_name=f"study-{job_id}")
    with cache.lend(store, ticket, OPTIONS) as run:  # type: ignore[arg-type]
        return run


def test_idle_sessions_are_reused_and_the_least_recently_used_dropped(built: list[str]) -> None:
    cache = SessionCache(size=2)
    first = _lend(cache, "a")
    _lend(cache, "b")
    assert _lend(cache, "a") is first  # reused: "b" is now the least recently used
    _lend(cache, "c")  # drops "b"
    assert _lend(cache, "a") is first
    _lend(cache, "b")
    assert built == ["a", "b", "c", "b"]


def test_a_session_whose_task_raised_is_not_kept(built: list[str]) -> None:
    cache = SessionCache(size=2)
    store = SimpleNamespace(storage_url="sqlite://")
    ticket = SimpleNamespace(id="a", study_name="study-a")
    with pytest.raises(RuntimeError), cache.lend(store, ticket, OPTIONS):  # type: ignore[arg-type]
        raise RuntimeError("slice failed")
    _lend(cache, "a")
    assert built == ["a", "a"]


def test_forget_and_clear_drop_sessions(built: list[str]) -> None:
    cache = SessionCache(size=2)
    _lend(cache, "a")
    _lend(cache, "b")
    cache.forget("a")
    _lend(cache, "b")
    _lend(cache, "a")
    cache.clear()
    _lend(cache, "b")
    assert built == ["a", "b", "a", "b"]
