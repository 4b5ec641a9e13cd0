"""The broker's side of the queues: their names, and how many tasks wait in each.

Only the workers know how Celery's transport lays its queues out in the broker; the
service asks a :class:`~workers.Dispatcher` for ``queue_depths()`` and reads this
through it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis

from workers.exceptions import BrokerUnavailable

__all__ = ["QUEUES", "redis_queue_depths"]

QUEUES = ("cpu", "cuda")  # one per device kind, so latency is measured where models run

# kombu's Redis transport keeps a queue's prioritised messages in lists named
# queue + SEP + step (step 0 is the plain list).
_KOMBU_PRIORITY_SEP = "\x06\x16"
_KOMBU_PRIORITY_STEPS = (3, 6, 9)
_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def redis_queue_depths(
    url: str, queues: Sequence[str], *, timeout_s: float
) -> dict[str, int] | None:
    """Tasks waiting in each of ``queues`` of the Redis broker at ``url``; ``None`` for a
    broker of another transport (its own exporter knows its queues).

    Raises:
        BrokerUnavailable: the broker did not answer within ``timeout_s``.
    """
    if not url.startswith(_REDIS_SCHEMES):
        return None
    names = [
        (queue, name)
        for queue in queues
        for name in (
            queue,
            *(f"{queue}{_KOMBU_PRIORITY_SEP}{step}" for step in _KOMBU_PRIORITY_STEPS),
        )
    ]
    client = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
    try:
        pipe = client.pipeline(transaction=False)
        for _, name in names:
            pipe.llen(name)
        lengths: list[Any] = pipe.execute()
    except (redis.RedisError, OSError) as exc:
        raise BrokerUnavailable(f"the broker did not answer a queue-depth read: {exc}") from exc
    finally:
        client.close()
    depths = dict.fromkeys(queues, 0)
    for (queue, _), length in zip(names, lengths, strict=True):
        depths[queue] += int(length)
    return depths
