"""/metrics: Prometheus text, read from the database (and the broker) at scrape time.

Jobs, trials, slices and worker heartbeats live in the database (the workers write them,
possibly on other machines), so they are collected from it on each scrape rather than
counted in this process; every API replica then reports the same figures. Durations are
histograms computed in SQL (one ``SUM(CASE ...)`` per bucket), so a scrape costs one scan
of the candidates, not one row per candidate sent to Python. Queue depth is the
dispatcher's (``Dispatcher.queue_depths()``): the broker's, read by the workers who know
its layout, or the embedded pool's, which holds its queue itself.

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

Modules: a collector each (``_jobs``, ``_durations``, ``_workers``, ``_queue``), the SQL
histograms they share (``_histogram``), the registry (``_registry``), the route (``_route``).
"""

from service.api.metrics._durations import (
    FINAL_BUCKETS,
    SLICE_BUCKETS,
    TRIAL_BUCKETS,
    DurationsCollector,
)
from service.api.metrics._jobs import JobsCollector
from service.api.metrics._queue import QueueCollector
from service.api.metrics._registry import make_registry
from service.api.metrics._route import router
from service.api.metrics._workers import WorkersCollector

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
