"""Suite-wide fixtures: the real PostgreSQL (pytest-django) and the real Redis."""

from dataclasses import dataclass

import pytest
import redis
from django.conf import settings


@pytest.fixture(autouse=True, scope="session")
def helper_thread_connections_closed(django_db_setup):
    """Connections of threads the suite does not own would outlive the session and keep
    pytest-django from dropping the test database: asgiref's one sync thread (the async tests'
    ORM calls) and the sockets' database threads (``config.websocket_auth``), whose connections
    Channels' test communicator leaves open (it swaps ``close_old_connections`` for a no-op)."""
    yield
    import threading

    from asgiref.sync import SyncToAsync
    from django.db import connections

    from config.websocket_auth import _pool

    SyncToAsync.single_thread_executor.submit(connections.close_all).result()
    # One call per thread of the pool: each waits until all are running, so none runs twice.
    threads = settings.WEBSOCKET_DB_THREADS
    everyone = threading.Barrier(threads)

    def close_on_this_thread():
        everyone.wait(timeout=10)
        connections.close_all()

    for call in [_pool().submit(close_on_this_thread) for _ in range(threads)]:
        call.result()


@pytest.fixture(autouse=True)
def clean_redis():
    """Each test starts with an empty Redis database (cache, counters, channel layer)."""
    if not settings.REDIS_URL:
        yield
        return
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture(autouse=True)
def clear_local_cache():
    from django.core.cache import cache

    if settings.EMBEDDED_MODE:
        cache.clear()
    yield


@pytest.fixture
def celery_worker(settings):
    """A real worker on the Redis broker for tests about the task pipeline."""
    from tests.celery_worker import real_worker

    if not settings.REDIS_URL:
        pytest.skip("needs the Redis broker (REDIS_URL); make test always provides it")
    with real_worker() as worker:
        yield worker


@pytest.fixture(autouse=True, scope="session")
def celery_runs_tasks_inline():
    """Tasks run where they are enqueued (after commit) unless a test starts a real worker."""
    from config.celery import app

    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager = False


@dataclass(frozen=True)
class Sent:
    channel: str
    user_id: int
    kind: str
    notification_id: int


class NotificationOutbox:
    """What the pipeline sent in this test, per channel: the toasts the live fan-out published
    (recorded by the suite's channel layer, ``tests/channel_layers.py``) and the deliveries the
    ledger marks sent (email, web push, SMS, mobile push), in the order they went out."""

    def __init__(self, published: list[tuple[int, dict]]):
        self._published = published

    @property
    def sent(self) -> list[Sent]:
        from notifications.models import Delivery, DeliveryStatus

        toasts = [
            Sent("in_app", user_id, event["kind"], event["id"])
            for user_id, event in self._published
            if event["type"] == "notification.created"
        ]
        delivered = (
            Delivery.objects.filter(status=DeliveryStatus.SENT)
            .order_by("sent_at", "pk")
            .values_list("channel", "notification__recipient_id", "notification__kind",
                         "notification_id")
        )
        return toasts + [Sent(*row) for row in delivered]

    def for_user(self, user, *, channel: str | None = None) -> list[Sent]:
        user_id = getattr(user, "pk", user)
        return [
            item
            for item in self.sent
            if item.user_id == user_id and (channel is None or item.channel == channel)
        ]

    def kinds_for(self, user, *, channel: str = "in_app") -> list[str]:
        return [item.kind for item in self.for_user(user, channel=channel)]

    def channels_for(self, user, *, kind: str | None = None) -> set[str]:
        return {item.channel for item in self.for_user(user) if kind is None or item.kind == kind}


@pytest.fixture
def notification_outbox():
    """What was sent: ``notification_outbox.kinds_for(user, channel="email")``. Real sends
    still happen; nothing of the product's code is replaced."""
    from tests import channel_layers

    yield NotificationOutbox(channel_layers.start_recording())
    channel_layers.stop_recording()
