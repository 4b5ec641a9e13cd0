"""Execution of search jobs: thin Celery tasks (or an embedded thread pool) over ``search``.

Tasks take job ids, call the search library, and persist through a :class:`JobStore` that
the service provides. A job is a chain ``prepare -> run_slice ... -> finalize`` of bounded
tasks (see :mod:`workers.runner`); :func:`make_celery` runs them on workers behind a
broker, :class:`EmbeddedDispatcher` in the calling process.
"""

from workers._gate import TrialGate
from workers._transient import is_transient
from workers.app import QUEUES, configure, make_celery
from workers.dispatch import CeleryDispatcher, Dispatcher, EmbeddedDispatcher
from workers.options import WorkerOptions
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
from workers.store import JobStore, JobTicket, WorkerBeat

__all__ = [
    "FINALIZE",
    "PREPARE",
    "QUEUES",
    "RUN_SLICE",
    "SWEEP",
    "CeleryDispatcher",
    "Dispatcher",
    "EmbeddedDispatcher",
    "JobStore",
    "JobTicket",
    "TrialGate",
    "WorkerBeat",
    "WorkerOptions",
    "configure",
    "finalize_job",
    "is_transient",
    "make_celery",
    "prepare_job",
    "run_slice",
    "sweep",
]
