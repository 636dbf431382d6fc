"""Retries through the real Redis broker and a real Celery worker (not eager)."""

import time

import pytest
from celery.contrib.testing.worker import start_worker

from config.celery import app
from notifications.delivery import enqueue_deliveries
from notifications.models import Delivery, DeliveryStatus

from .factories import sms_delivery

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def celery_worker(settings):
    """A worker thread consuming the urgent/default/bulk queues on the broker at REDIS_URL."""
    if not settings.REDIS_URL:
        pytest.skip("needs the Redis broker (REDIS_URL)")
    app.conf.task_always_eager = False
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30) as w:
            yield w
    finally:
        app.conf.task_always_eager = True


def wait_for(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_failed_attempts_are_retried_through_the_broker_until_sent(
    sms_provider, settings, celery_worker
):
    settings.DELIVERY_RETRY_BASE_SECONDS = 0.2
    settings.DELIVERY_MAX_ATTEMPTS = 5
    sms_provider.answer("/sms", 503, 503)
    delivery = sms_delivery()

    enqueue_deliveries([delivery.pk], priority="high")

    assert wait_for(
        lambda: Delivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.SENT).exists()
    ), Delivery.objects.values("status", "attempts", "last_error").get(pk=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.attempts == 3
    assert len(sms_provider.requests) == 3
    # Each retry waited its backoff (at least half the doubling step: 0.2 s, then 0.4 s).
    first, second, third = (request.received_at for request in sms_provider.requests)
    assert second - first >= 0.1
    assert third - second >= 0.2


def test_dead_letter_after_the_last_attempt_through_the_broker(
    sms_provider, settings, celery_worker
):
    settings.DELIVERY_RETRY_BASE_SECONDS = 0.1
    settings.DELIVERY_MAX_ATTEMPTS = 3
    sms_provider.default_status = 500
    delivery = sms_delivery()

    enqueue_deliveries([delivery.pk], priority="urgent")

    assert wait_for(
        lambda: Delivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.DEAD).exists()
    )
    time.sleep(0.5)  # nothing else arrives after the row is dead
    assert len(sms_provider.requests) == 3
