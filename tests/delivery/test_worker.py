"""Retries through the real Redis broker and a real Celery worker (not eager)."""

import time

import pytest

from notifications.delivery import enqueue_deliveries
from notifications.models import Delivery, DeliveryStatus

from tests.celery_worker import real_worker, wait_for

from .factories import sms_delivery

pytestmark = pytest.mark.django_db(transaction=True)


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


def test_priority_picks_the_queue_so_urgent_rows_never_wait_behind_bulk(sms_provider, settings):
    if not settings.REDIS_URL:
        pytest.skip("needs the Redis broker (REDIS_URL)")
    urgent, bulk = sms_delivery(), sms_delivery()

    with real_worker(queues=["urgent"]):
        enqueue_deliveries([bulk.pk], priority="low")
        enqueue_deliveries([urgent.pk], priority="urgent")

        assert wait_for(
            lambda: Delivery.objects.filter(pk=urgent.pk, status=DeliveryStatus.SENT).exists()
        )
        time.sleep(0.5)

    # Only a worker on the bulk queue would take the low-priority row.
    bulk.refresh_from_db()
    assert bulk.status == DeliveryStatus.PENDING
    assert bulk.attempts == 0
    assert len(sms_provider.requests) == 1
