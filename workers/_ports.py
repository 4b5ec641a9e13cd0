"""The port the job functions hand on through: :class:`Dispatcher`.

It lives apart from its adapters (:mod:`workers.dispatch`: Celery, the embedded thread pool)
because the adapters run the job functions of :mod:`workers.runner`, while those functions
queue their successors through the port: with the port here, neither module imports the
other both ways.
"""

from __future__ import annotations

import abc

__all__ = ["Dispatcher"]


class Dispatcher(abc.ABC):
    """Queues a task by name for a job (``runner.PREPARE``, ``RUN_SLICE``, ``FINALIZE``;
    ``SWEEP`` ignores the job id)."""

    @abc.abstractmethod
    def enqueue(
        self, task: str, job_id: str, *, queue: str = "cpu", countdown_s: float = 0.0
    ) -> None:
        """Queue ``task`` for ``job_id`` on ``queue`` (the job's device kind), to start no
        sooner than ``countdown_s`` seconds from now."""

    def queue_depths(self) -> dict[str, int] | None:
        """Tasks waiting (not yet started) by queue; ``None`` where this dispatcher cannot
        tell (a dispatcher that only records, a broker whose layout it does not know).

        Raises:
            BrokerUnavailable: the queues live in a broker that did not answer.
        """
        return None
