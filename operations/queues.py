"""Celery queue depth and the age of the oldest waiting message, read from the broker itself.

Every published task carries a ``herald-published-at`` header (``operations.signals``). On the
Redis transport a queue is a list (plus one list per priority step); kombu pushes on the left
and workers pop from the right, so the right end is the oldest message and its header says how
long it has waited. Other transports report their depth through a passive declare and no age.
The Redis layout is kombu's (``kombu.transport.redis``); a test enqueues real tasks and reads
them back, so an upgrade that changes it fails there.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass

from django.conf import settings

logger = logging.getLogger(__name__)

QUEUES = ("urgent", "default", "bulk")
PUBLISHED_AT_HEADER = "herald-published-at"
# kombu.transport.redis: a queue with priorities is one list per step, "<queue>\x06\x16<step>".
_PRIORITY_SEPARATOR = "\x06\x16"


@dataclass(frozen=True)
class QueueState:
    name: str
    depth: int | None  # None: the broker could not be read
    oldest_age_seconds: float | None  # None: empty, or not known on this transport

    def as_dict(self) -> dict:
        return {"depth": self.depth, "oldest_age_seconds": self.oldest_age_seconds}


_redis_clients: dict[str, object] = {}


def _redis(url: str):
    import redis

    client = _redis_clients.get(url)
    if client is None:
        client = _redis_clients[url] = redis.Redis.from_url(
            url, socket_connect_timeout=2, socket_timeout=2
        )
    return client


def _priority_steps() -> list[int]:
    from config.celery import app

    options = app.conf.broker_transport_options or {}
    return list(options.get("priority_steps", [0, 3, 6, 9]))


def _message_age(raw: bytes | None, now: float) -> float | None:
    if raw is None:
        return None
    try:
        published = float(json.loads(raw)["headers"][PUBLISHED_AT_HEADER])
    except (ValueError, KeyError, TypeError):
        return None
    return max(0.0, now - published)


def _redis_states(url: str) -> list[QueueState]:
    client = _redis(url)
    now = time.time()
    keys = {
        name: [name if step == 0 else f"{name}{_PRIORITY_SEPARATOR}{step}"
               for step in _priority_steps()]
        for name in QUEUES
    }
    pipe = client.pipeline(transaction=False)
    for name in QUEUES:
        for key in keys[name]:
            pipe.llen(key)
            pipe.lindex(key, -1)
    replies = iter(pipe.execute())
    states = []
    for name in QUEUES:
        depth, ages = 0, []
        for _ in keys[name]:
            depth += next(replies)
            age = _message_age(next(replies), now)
            if age is not None:
                ages.append(age)
        states.append(QueueState(name, depth, max(ages) if ages else None))
    return states


def _declared_states() -> list[QueueState]:
    from config.celery import app

    states = []
    with app.connection_for_read() as connection:
        channel = connection.default_channel
        for name in QUEUES:
            try:
                depth = channel.queue_declare(queue=name, passive=True).message_count
            except Exception:  # noqa: BLE001  (a queue nobody declared yet holds nothing)
                depth = 0
            states.append(QueueState(name, depth, None))
    return states


def queue_states() -> list[QueueState]:
    """Depth and oldest-message age of each priority queue; depth None when unreadable."""
    url = settings.CELERY_BROKER_URL
    try:
        if url.startswith(("redis://", "rediss://", "unix://")):
            return _redis_states(url)
        return _declared_states()
    except Exception as exc:  # noqa: BLE001
        logger.warning("Queue depth unavailable: %s: %s", type(exc).__name__, exc)
        return [QueueState(name, None, None) for name in QUEUES]
