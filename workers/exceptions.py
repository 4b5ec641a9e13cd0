"""The exceptions of :mod:`workers`: one tree, rooted at :class:`WorkersError`.

::

    WorkersError
     +-- InvalidOptions (ValueError)      WorkerOptions refused on construction
     +-- NoBroker (ValueError)            make_celery() with no broker_url
     +-- UnknownTask (ValueError)         a dispatcher asked to queue a task it does not know
     +-- NotConfigured (RuntimeError)     a task ran where workers.configure() was not called
     +-- BrokerUnavailable (ConnectionError)  the broker did not answer a queue-depth read

Each also derives from the built-in it replaced, so ``except ValueError`` keeps working.
Errors of a job's own making are :mod:`search`'s and :mod:`pruning`'s (they fail the job);
unknown job ids stay ``KeyError``, as the :class:`~workers.JobStore` contract says.
"""

from __future__ import annotations

__all__ = [
    "BrokerUnavailable",
    "InvalidOptions",
    "NoBroker",
    "NotConfigured",
    "UnknownTask",
    "WorkersError",
]


class WorkersError(Exception):
    """Base class of every error raised by :mod:`workers` itself."""


class InvalidOptions(WorkersError, ValueError):  # noqa: N818 - named after what is wrong
    """A :class:`~workers.WorkerOptions` value, or a combination of them, is refused."""


class NoBroker(WorkersError, ValueError):  # noqa: N818 - a missing setting, named as such
    """Celery was asked for with no broker URL (without one, jobs run embedded)."""


class UnknownTask(WorkersError, ValueError):  # noqa: N818 - named after what is wrong
    """A dispatcher was asked to queue a task name that no worker runs."""


class NotConfigured(WorkersError, RuntimeError):  # noqa: N818 - a state of the process
    """A task ran in a process where :func:`workers.configure` was not called."""


class BrokerUnavailable(WorkersError, ConnectionError):  # noqa: N818 - a state of the broker
    """The broker did not answer in time (the queue depths are unknown for now)."""
