"""The per-provider circuit breaker: opens, fails fast without spending attempts, half-opens."""

import time

import pytest

from notifications.delivery import services, tasks
from notifications.delivery.backends.sms import HttpSmsBackend
from notifications.delivery.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker
from notifications.models import DeliveryStatus

from .factories import sms_delivery

pytestmark = pytest.mark.django_db


@pytest.fixture
def breaker_settings(settings):
    settings.DELIVERY_BREAKER_THRESHOLD = 3
    settings.DELIVERY_BREAKER_COOLDOWN_SECONDS = 0.5
    settings.DELIVERY_RETRY_BASE_SECONDS = 0
    settings.DELIVERY_MAX_ATTEMPTS = 10
    return settings


def sms_breaker() -> CircuitBreaker:
    return CircuitBreaker(HttpSmsBackend().provider)


def test_breaker_opens_after_consecutive_failures_and_fails_fast_without_spending_attempts(
    sms_provider, breaker_settings
):
    sms_provider.default_status = 503
    first = sms_delivery()

    # Retries run inline (no backoff): three failures open the breaker, the fourth try fails fast.
    assert tasks.deliver(first.pk) == services.FAILED

    first.refresh_from_db()
    assert sms_breaker().state() == OPEN
    assert len(sms_provider.requests) == 3
    assert first.status == DeliveryStatus.FAILED
    assert first.attempts == 3
    assert "circuit open" in first.last_error

    second = sms_delivery()
    assert tasks.deliver(second.pk) == services.DEFERRED
    second.refresh_from_db()
    assert second.attempts == 0
    assert second.status == DeliveryStatus.PENDING
    assert second.next_attempt_at is not None
    assert len(sms_provider.requests) == 3  # the provider was not called again


def test_breaker_closes_again_when_the_probe_after_the_cooldown_succeeds(
    sms_provider, breaker_settings
):
    sms_provider.answer("/sms", 503, 503, 503)
    waiting = sms_delivery()
    assert tasks.deliver(waiting.pk) == services.FAILED
    assert sms_breaker().state() == OPEN

    time.sleep(0.6)
    assert sms_breaker().state() == HALF_OPEN
    # The sweep re-queues the row the breaker deferred; the probe succeeds and closes it.
    assert services.deliveries_enqueue_due() == 1

    waiting.refresh_from_db()
    assert waiting.status == DeliveryStatus.SENT
    assert waiting.attempts == 4
    assert sms_breaker().state() == CLOSED
    assert sms_breaker().consecutive_failures() == 0
    assert len(sms_provider.requests) == 4


def test_half_open_breaker_lets_one_probe_through_and_reopens_when_it_fails(breaker_settings):
    breaker = CircuitBreaker("sms:test")
    for _ in range(3):
        breaker.record_failure()
    assert breaker.state() == OPEN
    assert not breaker.allow().allowed

    time.sleep(0.6)
    assert breaker.allow().allowed  # the probe
    assert not breaker.allow().allowed  # everyone else waits for its result
    assert breaker.record_failure() == OPEN
    assert not breaker.allow().allowed


def test_a_success_resets_the_count_of_consecutive_failures(breaker_settings):
    breaker = CircuitBreaker("sms:test")
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    breaker.record_failure()

    assert breaker.state() == CLOSED
    assert breaker.consecutive_failures() == 2


def test_breakers_of_different_providers_are_independent(breaker_settings):
    for _ in range(3):
        CircuitBreaker("sms:down.example").record_failure()

    assert CircuitBreaker("sms:down.example").state() == OPEN
    assert CircuitBreaker("email:smtp").state() == CLOSED
