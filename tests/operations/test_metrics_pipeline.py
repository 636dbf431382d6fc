"""Metrics move as a notification goes through the real pipeline: a real worker on the Redis
broker, the real channel layer, a socket through the ASGI application."""

import pytest
from asgiref.sync import sync_to_async
from django.db import transaction

from notifications.models import Delivery, DeliveryStatus
from notifications.services import notify, quiet_hours_set
from tests.celery_worker import wait_for
from tests.factories import UserFactory
from tests.pipeline.test_consumer import socket, user_with_cookie

from .helpers import scrape, staff_client, tasks_waiting, value

pytestmark = pytest.mark.django_db(transaction=True)


def test_counters_and_histograms_move_through_the_pipeline_with_a_real_worker(celery_worker):
    alice = UserFactory(username="alice")
    client = staff_client()
    before = scrape(client)

    with transaction.atomic():
        result = notify(kind="event_updated", recipients=[alice], dedupe_key="quiz-1",
                        context={"event_title": "Quiz night"}, url="/events/1/")
    delivery = Delivery.objects.get(notification_id=result.notification_ids[0], channel="email")
    assert wait_for(
        lambda: Delivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.SENT).exists()
    )
    assert wait_for(lambda: value(scrape(client), "herald_inapp_pushes_total")
                    > value(before, "herald_inapp_pushes_total"))
    after = scrape(client)

    def moved(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("herald_notifications_created_total", kind="event_updated",
                 priority="normal") == 1
    assert moved("herald_inapp_pushes_total") == 1
    assert moved("herald_inapp_push_latency_seconds_count") == 1
    assert moved("herald_inapp_push_latency_seconds_sum") >= 0
    assert moved("herald_delivery_attempts_total", channel="email") == 1
    assert moved("herald_deliveries_total", channel="email", status="sent") == 1
    assert moved("herald_delivery_latency_seconds_count", channel="email") == 1
    assert moved("herald_dead_letters_total", channel="email") == 0


def test_silenced_notifications_are_counted_by_reason(settings):
    from datetime import time

    settings.NOTIFICATIONS_RATE_LIMIT_COUNT = 1
    sleepy, busy = UserFactory(username="sleepy"), UserFactory(username="busy")
    quiet_hours_set(user=sleepy, start=time(0, 0), end=time(23, 59, 59))
    client = staff_client()
    before = scrape(client)

    with transaction.atomic():
        notify(kind="game_scored", recipients=[sleepy], dedupe_key="q")
        notify(kind="game_scored", recipients=[busy], dedupe_key="b1")
        notify(kind="game_scored", recipients=[busy], dedupe_key="b2")
    after = scrape(client)

    def moved(reason):
        key = "herald_notifications_silenced_total"
        return value(after, key, reason=reason) - value(before, key, reason=reason)

    assert moved("quiet_hours") == 1
    assert moved("rate_limit") == 1
    # A rolled-back notify counts nothing.
    with pytest.raises(RuntimeError), transaction.atomic():
        notify(kind="game_scored", recipients=[busy], dedupe_key="b3")
        raise RuntimeError
    assert value(scrape(client), "herald_notifications_created_total", kind="game_scored",
                 priority="normal") == value(after, "herald_notifications_created_total",
                                             kind="game_scored", priority="normal")


def test_queue_depth_and_age_reflect_tasks_waiting_in_the_real_broker(settings):
    if not settings.REDIS_URL:
        pytest.skip("needs the Redis broker (REDIS_URL); make test always provides it")
    client = staff_client()
    tasks_waiting("bulk", 3)
    tasks_waiting("urgent")

    samples = scrape(client)

    assert value(samples, "herald_queue_depth", queue="bulk") == 3
    assert value(samples, "herald_queue_depth", queue="urgent") == 1
    assert value(samples, "herald_queue_depth", queue="default") == 0
    assert value(samples, "herald_queue_oldest_age_seconds", queue="bulk") > 0
    assert value(samples, "herald_queue_oldest_age_seconds", queue="default") == 0
    status = client.get("/health/status").json()
    assert status["queues"]["bulk"]["depth"] == 3


async def test_sockets_are_counted_open_and_closed_with_their_code():
    client = await sync_to_async(staff_client)()
    before = await sync_to_async(scrape)(client)
    _, cookie = await sync_to_async(user_with_cookie)("alice")
    ws = socket(cookie)
    assert (await ws.connect())[0]

    during = await sync_to_async(scrape)(client)
    await ws.disconnect(code=1001)
    after = await sync_to_async(scrape)(client)

    assert value(during, "herald_websockets_open", role="other") - value(
        before, "herald_websockets_open", role="other") == 1
    assert value(after, "herald_websockets_open", role="other") == value(
        before, "herald_websockets_open", role="other")
    connects = "herald_websocket_connects_total"
    assert value(after, connects, consumer="NotificationConsumer") - value(
        before, connects, consumer="NotificationConsumer") == 1
    closes = "herald_websocket_disconnects_total"
    labels = {"consumer": "NotificationConsumer", "code": "1001"}
    assert value(after, closes, **labels) - value(before, closes, **labels) == 1
