"""Tasks waiting per queue: the embedded pool's own count, or the broker's Redis lists."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import redis
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from workers import QUEUES, Dispatcher

__all__ = ["BROKER_TIMEOUT_S", "QueueCollector"]

BROKER_TIMEOUT_S = 1.0
# kombu's Redis transport keeps a queue's prioritised messages in lists named
# queue + SEP + step (step 0 is the plain list).
_KOMBU_PRIORITY_SEP = "\x06\x16"
_KOMBU_PRIORITY_STEPS = (3, 6, 9)


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
