"""Timers around the steps a slice takes, installed in a benchmark's worker process only.

``install(path)`` wraps a few functions of workers, search and Optuna (by attribute, in this
process and the pool children it forks) so that each slice appends one JSON line to
``path``: its wall start and end (``time.time()``), the trials it ran and the seconds spent
in each phase. Nothing here runs in production; the service has no timing code of its own
beyond the slice record.
"""

from __future__ import annotations

import functools
import json
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna.study._optimize as optuna_optimize
from optuna.study import Study

import workers._session_cache as session_cache
import workers.runner as runner
from search.runner._session import SearchSession
from search.stages import Objective
from service.jobs import SqlJobStore
from workers._projector import CandidateProjector
from workers._session_cache import JobCallback

# Phase totals of the slice running in this thread (one slice per thread at a time).
_local = threading.local()


def _totals() -> defaultdict[str, float]:
    if not hasattr(_local, "totals"):
        _local.totals = defaultdict(float)
    return _local.totals  # type: ignore[no-any-return]


def _calls() -> defaultdict[str, int]:
    if not hasattr(_local, "calls"):
        _local.calls = defaultdict(int)
    return _local.calls  # type: ignore[no-any-return]


def _timed(phase: str, function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        totals = _totals()
        depth = getattr(_local, "depth", 0)
        _local.depth = depth + 1
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            _local.depth = depth
            if depth == 0:  # nested timed calls count once, in the outermost phase
                totals[phase] += time.perf_counter() - start
                _calls()[phase] += 1

    return wrapper


def _wrap(owner: Any, name: str, phase: str) -> None:
    setattr(owner, name, _timed(phase, getattr(owner, name)))


def install(path: Path) -> None:
    """Wrap the phases; each slice of this process appends a line to ``path``."""
    _wrap(session_cache, "build", "slice start-up (prepare + study load)")
    _wrap(JobCallback, "rebind", "slice start-up (prepare + study load)")
    _wrap(Study, "ask", "ask (sampler) + tell")
    _wrap(optuna_optimize, "_tell_with_warning", "ask (sampler) + tell")
    _wrap(Objective, "__call__", "trial compute (objective)")
    _wrap(CandidateProjector, "project", "candidate writes")
    _wrap(JobCallback, "beat", "progress heartbeats")
    for name in ("in_flight", "counts", "finished", "screened"):
        _wrap(SearchSession, name, "study reads (in flight, counts)")
    for name in ("load", "cancel_requested", "trial_gate"):
        _wrap(SqlJobStore, name, "job reads + trial gate")
    _wrap(SqlJobStore, "record_slice", "slice record")
    _wrap(SqlJobStore, "beat", "progress heartbeats")

    original = runner.run_slice

    @functools.wraps(original)
    def run_slice(*args: Any, **kwargs: Any) -> None:
        _local.totals = defaultdict(float)
        _local.calls = defaultdict(int)
        _local.depth = 0
        started = time.time()
        begin = time.perf_counter()
        try:
            original(*args, **kwargs)
        finally:
            seconds = time.perf_counter() - begin
            line = {
                "pid": os.getpid(),
                "start": started,
                "end": started + seconds,
                "seconds": seconds,
                "phases": dict(_totals()),
                "calls": dict(_calls()),
            }
            with path.open("a") as out:
                out.write(json.dumps(line) + "\n")

    runner.run_slice = run_slice
    runner.JOB_TASKS[runner.RUN_SLICE] = run_slice
