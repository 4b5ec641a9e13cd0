"""Worker processes' last heartbeats, what they ran, and how many are alive."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from service.db import Database
from service.models import WorkerProcess, utcnow

__all__ = ["ALIVE_INTERVALS", "FORGET_WORKERS_AFTER", "WorkersCollector"]

# A worker is alive while its last heartbeat is younger than this many intervals.
ALIVE_INTERVALS = 3.0
# Rows of workers not seen for this long are left out (replaced containers, old hosts).
FORGET_WORKERS_AFTER = timedelta(days=1)


class WorkersCollector(Collector):
    """Worker processes' last heartbeats and what they did, from their rows."""

    def __init__(self, database: Database, *, heartbeat_s: float) -> None:
        self.database = database
        self.heartbeat_s = heartbeat_s

    def describe(self) -> Iterator[Metric]:
        yield from self._families()

    def collect(self) -> Iterator[Metric]:
        seen, tasks, slices, alive = self._families()
        now = utcnow()
        statement = select(WorkerProcess).where(
            WorkerProcess.last_seen >= now - FORGET_WORKERS_AFTER
        )
        try:
            with self.database.sessions() as session:
                rows = list(session.scalars(statement))
        except SQLAlchemyError:
            return
        cutoff = now - timedelta(seconds=ALIVE_INTERVALS * self.heartbeat_s)
        for row in sorted(rows, key=lambda r: (r.worker, r.process)):
            labels = [row.worker, str(row.process)]
            seen.add_metric(labels, row.last_seen.timestamp())
            tasks.add_metric(labels, row.tasks_done)
            slices.add_metric(labels, row.slices_done)
        alive.add_metric([], sum(row.last_seen >= cutoff for row in rows))
        yield from (seen, tasks, slices, alive)

    def _families(
        self,
    ) -> tuple[GaugeMetricFamily, CounterMetricFamily, CounterMetricFamily, GaugeMetricFamily]:
        labels = ["worker", "process"]
        return (
            GaugeMetricFamily(
                "prunesearch_worker_last_heartbeat_timestamp_seconds",
                "Unix time of a worker process's last heartbeat.",
                labels=labels,
            ),
            CounterMetricFamily(
                "prunesearch_worker_tasks",
                "Tasks a worker process ran since it started.",
                labels=labels,
            ),
            CounterMetricFamily(
                "prunesearch_worker_slices",
                "run_slice tasks a worker process ran since it started.",
                labels=labels,
            ),
            GaugeMetricFamily(
                "prunesearch_workers_alive",
                f"Worker processes heard from within {ALIVE_INTERVALS:g} heartbeat intervals "
                f"({ALIVE_INTERVALS * self.heartbeat_s:g} s).",
            ),
        )
