"""Retries with backoff, dead letters and idempotency, against a real SMS provider over HTTP."""

from datetime import timedelta

import pytest
from django.utils import timezone

from notifications.delivery import enqueue_deliveries, services, tasks
from notifications.models import Channel, Delivery, DeliveryStatus

from .factories import DeliveryFactory, sms_delivery

pytestmark = pytest.mark.django_db


def test_provider_failing_twice_then_succeeding_ends_sent_after_three_attempts(
    sms_provider, fast_retries
):
    sms_provider.answer("/sms", 503, 503)
    delivery = sms_delivery()

    enqueue_deliveries([delivery.pk], priority="normal")

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT
    assert delivery.attempts == 3
    assert delivery.provider_message_id == "msg-3"
    assert delivery.last_error == ""
    assert delivery.sent_at is not None
    assert len(sms_provider.requests) == 3
    request = sms_provider.requests[-1]
    assert request.headers["authorization"] == "Bearer sms-test-key"
    assert request.json()["to"] == "+4915112345678"
    assert request.json()["from"] == "Herald"


def test_provider_always_failing_ends_dead_and_no_further_attempts_happen(
    sms_provider, fast_retries
):
    sms_provider.default_status = 500
    delivery = sms_delivery()

    enqueue_deliveries([delivery.pk], priority="normal")

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DEAD
    assert delivery.attempts == 4
    assert "500" in delivery.last_error
    assert delivery.next_attempt_at is None
    assert len(sms_provider.requests) == 4

    # Neither the every-minute sweep nor a duplicate task touches a dead row.
    assert services.deliveries_enqueue_due() == 0
    assert tasks.deliver(delivery.pk) == services.SKIPPED
    delivery.refresh_from_db()
    assert delivery.attempts == 4
    assert len(sms_provider.requests) == 4


def test_failed_attempt_backs_off_exponentially_before_the_next_one(sms_provider, settings):
    settings.DELIVERY_RETRY_BASE_SECONDS = 30
    sms_provider.answer("/sms", 503)
    delivery = sms_delivery()
    before = timezone.now()

    assert tasks.deliver(delivery.pk) == services.FAILED

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert "503" in delivery.last_error
    # Equal jitter: between half and all of the 30 s step.
    assert before + timedelta(seconds=15) <= delivery.next_attempt_at
    assert delivery.next_attempt_at <= timezone.now() + timedelta(seconds=30)
    # Not due yet: a duplicate task does nothing.
    assert tasks.deliver(delivery.pk) == services.SKIPPED
    assert len(sms_provider.requests) == 1


def test_retry_delay_doubles_per_attempt_up_to_the_cap(settings):
    from notifications.delivery.policy import retry_delay

    settings.DELIVERY_RETRY_BASE_SECONDS = 10
    settings.DELIVERY_RETRY_MAX_SECONDS = 60
    for attempts, step in [(1, 10), (2, 20), (3, 40), (4, 60), (9, 60)]:
        delays = [retry_delay(attempts) for _ in range(50)]
        assert all(step / 2 <= delay <= step for delay in delays)


def test_number_rejected_by_provider_is_dead_at_once_without_retries(sms_provider, fast_retries):
    sms_provider.answer("/sms", 422)
    delivery = sms_delivery()

    enqueue_deliveries([delivery.pk], priority="normal")

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DEAD
    assert delivery.attempts == 1
    assert "422" in delivery.last_error


def test_recipient_without_phone_number_is_dead_without_calling_the_provider(sms_provider):
    delivery = DeliveryFactory(channel=Channel.SMS)

    assert tasks.deliver(delivery.pk) == services.DEAD

    delivery.refresh_from_db()
    assert delivery.last_error == "recipient has no phone number"
    assert sms_provider.requests == []


def test_delivery_already_sent_is_not_sent_again(sms_provider):
    delivery = sms_delivery()

    assert tasks.deliver(delivery.pk) == services.SENT
    assert tasks.deliver(delivery.pk) == services.SKIPPED
    assert tasks.deliver_batch([delivery.pk, delivery.pk]) == {services.SKIPPED: 1}

    delivery.refresh_from_db()
    assert delivery.attempts == 1
    assert len(sms_provider.requests) == 1


def test_row_claimed_by_a_worker_that_died_is_sent_once_its_lease_runs_out(sms_provider):
    delivery = sms_delivery()
    [claimed] = services.deliveries_claim(delivery_ids=[delivery.pk], due_by=timezone.now())
    # The worker dies here. While the lease lasts, nobody else takes the row.
    assert services.deliveries_enqueue_due() == 0
    assert tasks.deliver(delivery.pk) == services.SKIPPED

    long_ago = timezone.now() - timedelta(minutes=10)
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=long_ago, created_at=long_ago)
    assert services.deliveries_enqueue_due() == 1

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT
    assert delivery.attempts == 2
    assert len(sms_provider.requests) == 1


def test_console_sms_backend_prints_the_message(capsys, settings):
    settings.DELIVERY_BACKENDS = {
        **settings.DELIVERY_BACKENDS,
        "sms": "notifications.delivery.backends.sms.ConsoleSmsBackend",
    }
    delivery = sms_delivery()

    assert tasks.deliver(delivery.pk) == services.SENT

    assert "SMS to +4915112345678:" in capsys.readouterr().out


def test_batch_claims_its_rows_at_once_and_reports_each_outcome(sms_provider, settings):
    settings.DELIVERY_RETRY_BASE_SECONDS = 60
    fresh = [sms_delivery() for _ in range(3)]
    done = sms_delivery()
    tasks.deliver(done.pk)
    later = DeliveryFactory(
        channel=Channel.EMAIL, next_attempt_at=timezone.now() + timedelta(hours=1)
    )
    sms_provider.answer("/sms", 200, 503)

    outcomes = tasks.deliver_batch([row.pk for row in [*fresh, done, later]])

    assert outcomes == {services.SENT: 2, services.FAILED: 1, services.SKIPPED: 2}
    assert len(sms_provider.requests) == 4  # 1 earlier + 3 in the batch


def test_a_batch_of_sms_reuses_one_connection_to_the_provider(sms_provider):
    ids = [sms_delivery(phone=f"+49170000{n:04d}").pk for n in range(4)]

    assert tasks.deliver_batch(ids) == {services.SENT: 4}

    assert len(sms_provider.requests) == 4
    assert sms_provider.connections == 1


def test_batch_query_count_grows_only_by_the_outcome_write_per_row(sms_provider):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries_for(rows: int) -> int:
        ids = [sms_delivery(phone=f"+49170000{n:04d}").pk for n in range(rows)]
        with CaptureQueriesContext(connection) as captured:
            assert tasks.deliver_batch(ids) == {services.SENT: rows}
        return len(captured.captured_queries)

    five, ten = queries_for(5), queries_for(10)

    # Per row: one UPDATE for its outcome and its transaction's SET LOCAL (plus a savepoint pair
    # inside the test's transaction); claims, contact points and recipients come per chunk.
    assert (ten - five) / 5 <= 4
