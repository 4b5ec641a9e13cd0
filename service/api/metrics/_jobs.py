"""Jobs by status and trials by outcome, and whether the database answered."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from service.db import Database
from service.models import Job, JobStatus

__all__ = ["JobsCollector"]


class JobsCollector(Collector):
    """Jobs by status and trials by outcome, summed over every job in the database."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def describe(self) -> Iterator[Metric]:
        yield from self._families()

    def collect(self) -> Iterator[Metric]:
        jobs, trials, up = self._families()
        statement = select(
            Job.status,
            func.count(),
            func.coalesce(func.sum(Job.trials_done), 0),
            func.coalesce(func.sum(Job.trials_failed), 0),
        ).group_by(Job.status)
        counts = {status: 0 for status in JobStatus}
        done = failed = 0
        try:
            with self.database.sessions() as session:
                for status, count, status_done, status_failed in session.execute(statement):
                    counts[status] = int(count)
                    done += int(status_done)
                    failed += int(status_failed)
        except SQLAlchemyError:
            up.add_metric([], 0)
            yield up
            return
        for status, count in counts.items():
            jobs.add_metric([status.value], count)
        trials.add_metric(["done"], done)
        trials.add_metric(["failed"], failed)
        up.add_metric([], 1)
        yield from (jobs, trials, up)

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, CounterMetricFamily, GaugeMetricFamily]:
        return (
            GaugeMetricFamily("prunesearch_jobs", "Jobs by status.", labels=["status"]),
            CounterMetricFamily(
                "prunesearch_trials",
                "Trials finished, by outcome, over all jobs.",
                labels=["outcome"],
            ),
            GaugeMetricFamily("prunesearch_database_up", "1 if the database answered the scrape."),
        )
