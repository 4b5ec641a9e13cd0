"""Histograms of candidate trial and final durations, and of slices (seconds, trials)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from service.api.metrics._histogram import add_histogram, sql_histogram
from service.db import Database
from service.models import Candidate, SliceRun

__all__ = [
    "FINAL_BUCKETS",
    "SLICE_BUCKETS",
    "SLICE_TRIAL_BUCKETS",
    "TRIAL_BUCKETS",
    "DurationsCollector",
]

# Upper bounds in seconds (+Inf is added). A trial is seconds to minutes; a final fine-tune
# minutes; a slice is bounded by slice_seconds (300 s by default) plus the trial in flight.
TRIAL_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
FINAL_BUCKETS = (5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0)
SLICE_BUCKETS = (1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0)
SLICE_TRIAL_BUCKETS = (0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)


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
                    for kind, (counts, total, count) in sql_histogram(
                        session, column, buckets, group_by=Candidate.kind
                    ).items():
                        add_histogram(
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
                    counts, total, count = sql_histogram(session, column, buckets).get(
                        None, ([0] * len(buckets), 0.0, 0)
                    )
                    add_histogram(family, [], buckets, counts, total, count)
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
