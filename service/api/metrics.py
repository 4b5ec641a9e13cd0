"""/metrics: Prometheus text, read from the database (and the broker) at scrape time.

Jobs, trials, slices and worker heartbeats live in the database (the workers write them,
possibly on other machines), so they are collected from it on each scrape rather than
counted in this process; every API replica then reports the same figures. Durations are
histograms computed in SQL (one ``SUM(CASE ...)`` per bucket), so a scrape costs one scan
of the candidates, not one row per candidate sent to Python. Queue depth comes from the
broker (Redis list lengths), or from the embedded pool, which holds its queue itself.

Families (labels in braces):

- ``prunesearch_jobs{status}``, ``prunesearch_trials_total{outcome}``,
  ``prunesearch_database_up``
- ``prunesearch_trial_duration_seconds{kind}`` (prune + proxy fine-tune of a candidate),
  ``prunesearch_final_duration_seconds{kind}`` (final fine-tunes),
  ``prunesearch_slice_duration_seconds`` (``run_slice`` tasks), ``prunesearch_slice_trials``
- ``prunesearch_worker_last_heartbeat_timestamp_seconds{worker,process}``,
  ``prunesearch_worker_tasks_total{worker,process}``,
  ``prunesearch_worker_slices_total{worker,process}``, ``prunesearch_workers_alive``
- ``prunesearch_queue_depth{queue}``, ``prunesearch_broker_up`` (with a broker)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import timedelta
from typing import Any

import redis
from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString
from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from service.api.deps import RegistryDep
from service.db import Database
from service.models import Candidate, Job, JobStatus, SliceRun, WorkerProcess, utcnow
from workers import QUEUES, Dispatcher

__all__ = [
    "FINAL_BUCKETS",
    "SLICE_BUCKETS",
    "TRIAL_BUCKETS",
    "DurationsCollector",
    "JobsCollector",
    "QueueCollector",
    "WorkersCollector",
    "make_registry",
    "router",
]

router = APIRouter(tags=["health"])

# Upper bounds in seconds (+Inf is added). A trial is seconds to minutes; a final fine-tune
# minutes; a slice is bounded by slice_seconds (300 s by default) plus the trial in flight.
TRIAL_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
FINAL_BUCKETS = (5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0)
SLICE_BUCKETS = (1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0)
SLICE_TRIAL_BUCKETS = (0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
# A worker is alive while its last heartbeat is younger than this many intervals.
ALIVE_INTERVALS = 3.0
# Rows of workers not seen for this long are left out (replaced containers, old hosts).
FORGET_WORKERS_AFTER = timedelta(days=1)
BROKER_TIMEOUT_S = 1.0
# kombu's Redis transport keeps a queue's prioritised messages in lists named
# queue + SEP + step (step 0 is the plain list).
_KOMBU_PRIORITY_SEP = "\x06\x16"
_KOMBU_PRIORITY_STEPS = (3, 6, 9)


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


class DurationsCollector(Collector):
    """Histograms of candidate trial and final durations, and of slice durations."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def describe(self) -> Iterator[Metric]:
        yield from self._families()

    def collect(self) -> Iterator[Metric]:
        trial, final, slices, slice_trials = self._families()
        try:
            with self.database.sessions() as session:
                by_kind = [
                    (trial, Candidate.trial_s, TRIAL_BUCKETS),
                    (final, Candidate.final_s, FINAL_BUCKETS),
                ]
                for family, column, buckets in by_kind:
                    for kind, (counts, total, count) in _histogram(
                        session, column, buckets, group_by=Candidate.kind
                    ).items():
                        _add(
                            family,
                            [str(getattr(kind, "value", kind))],
                            buckets,
                            counts,
                            total,
                            count,
                        )
                for family, column, buckets in (
                    (slices, SliceRun.seconds, SLICE_BUCKETS),
                    (slice_trials, SliceRun.trials, SLICE_TRIAL_BUCKETS),
                ):
                    counts, total, count = _histogram(session, column, buckets).get(
                        None, ([0] * len(buckets), 0.0, 0)
                    )
                    _add(family, [], buckets, counts, total, count)
        except SQLAlchemyError:
            return  # prunesearch_database_up says why
        yield from (trial, final, slices, slice_trials)

    @staticmethod
    def _families() -> tuple[HistogramMetricFamily, ...]:
        return (
            HistogramMetricFamily(
                "prunesearch_trial_duration_seconds",
                "Seconds of one trial (pruning, measuring, proxy fine-tune), by candidate kind.",
                labels=["kind"],
            ),
            HistogramMetricFamily(
                "prunesearch_final_duration_seconds",
                "Seconds of one finalist's final fine-tune, by candidate kind.",
                labels=["kind"],
            ),
            HistogramMetricFamily(
                "prunesearch_slice_duration_seconds",
                "Seconds of one run_slice task (a bounded run of trials on one worker).",
            ),
            HistogramMetricFamily("prunesearch_slice_trials", "Trials run by one run_slice task."),
        )


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


class QueueCollector(Collector):
    """Tasks waiting per queue: the embedded pool's own count, or the broker's lists.

    A broker that does not answer within ``timeout_s`` costs the depth metric, never the
    scrape: ``prunesearch_broker_up`` is then 0.
    """

    def __init__(
        self,
        *,
        broker_url: str | None,
        dispatcher: Dispatcher | None = None,
        queues: Sequence[str] = QUEUES,
        timeout_s: float = BROKER_TIMEOUT_S,
    ) -> None:
        self.broker_url = broker_url
        self.dispatcher = dispatcher
        self.queues = tuple(queues)
        self.timeout_s = timeout_s

    def describe(self) -> Iterator[Metric]:
        yield self._depth()
        yield self._up()

    def collect(self) -> Iterator[Metric]:
        depths = self.dispatcher.queue_depths() if self.dispatcher is not None else None
        if depths is None and self.broker_url is not None:
            if not self.broker_url.startswith(("redis://", "rediss://", "unix://")):
                return  # another transport: its own exporter knows its queues
            up = self._up()
            try:
                depths = self._redis_depths(self.broker_url)
            except (redis.RedisError, OSError):
                up.add_metric([], 0)
                yield up
                return
            up.add_metric([], 1)
            yield up
        if depths is None:
            return
        family = self._depth()
        for queue in self.queues:
            family.add_metric([queue], depths.get(queue, 0))
        yield family

    def _redis_depths(self, url: str) -> dict[str, int]:
        client = redis.Redis.from_url(
            url, socket_timeout=self.timeout_s, socket_connect_timeout=self.timeout_s
        )
        try:
            names = [
                (queue, name)
                for queue in self.queues
                for name in (
                    queue,
                    *(f"{queue}{_KOMBU_PRIORITY_SEP}{step}" for step in _KOMBU_PRIORITY_STEPS),
                )
            ]
            pipe = client.pipeline(transaction=False)
            for _, name in names:
                pipe.llen(name)
            lengths: list[Any] = pipe.execute()
        finally:
            client.close()
        depths = dict.fromkeys(self.queues, 0)
        for (queue, _), length in zip(names, lengths, strict=True):
            depths[queue] += int(length)
        return depths

    @staticmethod
    def _depth() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "prunesearch_queue_depth", "Tasks waiting in a queue (not started).", labels=["queue"]
        )

    @staticmethod
    def _up() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "prunesearch_broker_up", "1 if the broker answered the scrape's queue-depth read."
        )


def _histogram(
    session: Session,
    column: Any,
    buckets: Sequence[float],
    *,
    group_by: ColumnElement[Any] | Any | None = None,
) -> dict[Any, tuple[list[int], float, int]]:
    """Per group: (cumulative count per bucket bound, sum, count) of ``column``'s non-null
    values, in one aggregate query."""
    values = [
        func.count(column),
        func.coalesce(func.sum(column), 0.0),
        *(func.coalesce(func.sum(case((column <= bound, 1), else_=0)), 0) for bound in buckets),
    ]
    keys = [group_by] if group_by is not None else []
    statement = select(*keys, *values).where(column.is_not(None))
    if group_by is not None:
        statement = statement.group_by(group_by)
    out: dict[Any, tuple[list[int], float, int]] = {}
    for row in session.execute(statement):
        key = row[0] if group_by is not None else None
        count, total, *counts = row[len(keys) :]
        if int(count) == 0:
            continue
        out[key] = ([int(c) for c in counts], float(total), int(count))
    return out


def _add(
    family: HistogramMetricFamily,
    labels: list[str],
    bounds: Iterable[float],
    counts: Sequence[int],
    total: float,
    count: int,
) -> None:
    buckets: list[tuple[str, float]] = [
        (_le(bound), n) for bound, n in zip(bounds, counts, strict=True)
    ]
    buckets.append(("+Inf", count))
    family.add_metric(labels, buckets, sum_value=total)


def _le(bound: float) -> str:
    text: str = floatToGoString(bound)  # type: ignore[no-untyped-call]
    return text


def make_registry(
    database: Database,
    *,
    broker_url: str | None = None,
    dispatcher: Dispatcher | None = None,
    heartbeat_s: float = 15.0,
) -> CollectorRegistry:
    """A registry of this app's own (not the process-global one: one app per test)."""
    registry = CollectorRegistry()
    registry.register(JobsCollector(database))
    registry.register(DurationsCollector(database))
    registry.register(WorkersCollector(database, heartbeat_s=heartbeat_s))
    registry.register(QueueCollector(broker_url=broker_url, dispatcher=dispatcher))
    return registry


@router.get("/metrics", response_class=Response, summary="Prometheus metrics (text format)")
def metrics(registry: RegistryDep) -> Response:
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
