"""The app's own registry of the four collectors."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from service.api.metrics._durations import DurationsCollector
from service.api.metrics._jobs import JobsCollector
from service.api.metrics._queue import QueueCollector
from service.api.metrics._workers import WorkersCollector
from service.db import Database
from workers import Dispatcher

__all__ = ["make_registry"]


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
