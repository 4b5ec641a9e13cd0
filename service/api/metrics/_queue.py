"""Tasks waiting per queue, as the dispatcher counts them (its pool, or the broker)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from workers import BrokerUnavailable, Dispatcher

__all__ = ["QueueCollector"]


class QueueCollector(Collector):
    """Tasks waiting per queue, from :meth:`workers.Dispatcher.queue_depths`: the embedded
    pool's own count, or the broker's (the workers know how their transport keeps queues).

    With a broker, ``prunesearch_broker_up`` says whether it answered; a broker that does
    not answer (the dispatcher bounds the wait) costs the depth metric, never the scrape.
    """

    def __init__(self, *, broker_url: str | None, dispatcher: Dispatcher | None = None) -> None:
        self.broker_url = broker_url
        self.dispatcher = dispatcher

    def describe(self) -> Iterator[Metric]:
        yield self._depth()
        yield self._up()

    def collect(self) -> Iterator[Metric]:
        if self.dispatcher is None:
            return
        try:
            depths = self.dispatcher.queue_depths()
        except BrokerUnavailable:
            up = self._up()
            up.add_metric([], 0)
            yield up
            return
        if depths is None:
            return  # a broker of another transport: its own exporter knows its queues
        if self.broker_url is not None:
            up = self._up()
            up.add_metric([], 1)
            yield up
        family = self._depth()
        for queue, depth in depths.items():
            family.add_metric([queue], depth)
        yield family

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
