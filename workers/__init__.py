"""Execution of search jobs: thin Celery tasks (or an embedded thread pool) over ``search``.

Tasks take job ids, call the search library, and persist through a :class:`JobStore` that
the service provides. A job is a chain ``prepare -> run_slice ... -> finalize`` of bounded
tasks (see :mod:`workers.runner`); :func:`make_celery` runs them on workers behind a
broker, :class:`EmbeddedDispatcher` in the calling process.

The port (:mod:`workers.store`), the options, the status enum and the exceptions import
nothing heavy, so ``service.settings`` and ``service.models`` build on them without
loading Celery or the search stack; the names that need those load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from workers._gate import TrialGate
from workers._ports import Dispatcher
from workers.exceptions import (
    BrokerUnavailable,
    InvalidOptions,
    NoBroker,
    NotConfigured,
    UnknownTask,
    WorkersError,
)
from workers.options import WorkerOptions
from workers.store import (
    ArtifactResolver,
    JobLifecycle,
    JobStatus,
    JobStore,
    JobTicket,
    WorkerBeat,
    WorkerTelemetry,
)

if TYPE_CHECKING:
    from workers._transient import is_transient
    from workers.app import QUEUES, configure, make_celery
    from workers.dispatch import CeleryDispatcher, EmbeddedDispatcher
    from workers.runner import (
        FINALIZE,
        PREPARE,
        RUN_SLICE,
        SWEEP,
        finalize_job,
        prepare_job,
        run_slice,
        sweep,
    )

__all__ = [
    "FINALIZE",
    "PREPARE",
    "QUEUES",
    "RUN_SLICE",
    "SWEEP",
    "ArtifactResolver",
    "BrokerUnavailable",
    "CeleryDispatcher",
    "Dispatcher",
    "EmbeddedDispatcher",
    "InvalidOptions",
    "JobLifecycle",
    "JobStatus",
    "JobStore",
    "JobTicket",
    "NoBroker",
    "NotConfigured",
    "TrialGate",
    "UnknownTask",
    "WorkerBeat",
    "WorkerOptions",
    "WorkerTelemetry",
    "WorkersError",
    "configure",
    "finalize_job",
    "is_transient",
    "make_celery",
    "prepare_job",
    "run_slice",
    "sweep",
]

# Names that need Celery or the search stack, and the module each comes from.
_LAZY = {
    "QUEUES": "workers.app",
    "configure": "workers.app",
    "make_celery": "workers.app",
    "CeleryDispatcher": "workers.dispatch",
    "is_transient": "workers._transient",
    "EmbeddedDispatcher": "workers.dispatch",
    "FINALIZE": "workers.runner",
    "PREPARE": "workers.runner",
    "RUN_SLICE": "workers.runner",
    "SWEEP": "workers.runner",
    "finalize_job": "workers.runner",
    "prepare_job": "workers.runner",
    "run_slice": "workers.runner",
    "sweep": "workers.runner",
}


def __getattr__(name: str) -> Any:
    # PEP 562: import the heavy module on first use of one of its names.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'workers' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
