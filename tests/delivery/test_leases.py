"""A claimed row is sent only while its lease holds, every provider call has a timeout, and a
row that fails before reaching the provider still spends its attempts and ends dead."""

import logging
import socket
import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from config.celery import app
from notifications.delivery import services, tasks
from notifications.models import Channel, Delivery, DeliveryStatus

from .backends import MisconfiguredSmsBackend, TakeoverSmsBackend
from .factories import DeliveryFactory, NotificationFactory, UserFactory, sms_delivery

pytestmark = pytest.mark.django_db


def use_sms_backend(settings, backend) -> None:
    backend.sent = []
    settings.DELIVERY_BACKENDS = {
        **settings.DELIVERY_BACKENDS,
        "sms": f"{backend.__module__}.{backend.__name__}",
    }


def test_a_worker_whose_lease_ran_out_does_not_overwrite_the_worker_that_took_over(
    settings, caplog
):
    use_sms_backend(settings, TakeoverSmsBackend)
    delivery = sms_delivery()

    with caplog.at_level(logging.ERROR, logger="notifications.delivery.services"):
        assert tasks.deliver(delivery.pk) == services.SENT

    delivery.refresh_from_db()
    assert TakeoverSmsBackend.sent == ["worker-a", "worker-b"]
    assert delivery.status == DeliveryStatus.SENT
    assert delivery.attempts == 2
    assert delivery.provider_message_id == "worker-b-message"
    assert "may get this message twice" in caplog.text


def test_a_row_with_too_little_lease_left_is_given_back_untried(sms_provider, settings):
    # Less lease than two provider timeouts: the call could still be running when it ends.
    settings.DELIVERY_CLAIM_SECONDS = 2 * settings.SMS_API_TIMEOUT_SECONDS - 1
    delivery = sms_delivery()

    assert tasks.deliver(delivery.pk) == services.RELEASED

    delivery.refresh_from_db()
    assert sms_provider.requests == []
    assert delivery.status == DeliveryStatus.PENDING
    assert delivery.attempts == 0
    assert delivery.next_attempt_at <= timezone.now()
    assert delivery.claim_token is None

    settings.DELIVERY_CLAIM_SECONDS = 300
    assert tasks.deliver(delivery.pk) == services.SENT
    assert len(sms_provider.requests) == 1


@pytest.fixture
def stalling_smtp_server(settings):
    """Accepts connections and never says a word (no greeting)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    held = []

    def accept():
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            held.append(connection)

    threading.Thread(target=accept, daemon=True).start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = listener.getsockname()
    yield listener
    listener.close()
    for connection in held:
        connection.close()


def test_an_smtp_server_that_stalls_times_out_and_the_row_is_retried(
    stalling_smtp_server, settings
):
    from django.conf import settings as configured

    # The configuration sets a timeout well inside the lease (Django's own default is none).
    assert 0 < configured.EMAIL_TIMEOUT <= 10
    settings.EMAIL_TIMEOUT = 1
    delivery = DeliveryFactory(
        channel=Channel.EMAIL, notification=NotificationFactory(recipient=UserFactory())
    )

    assert tasks.deliver(delivery.pk) == services.FAILED

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert "timed out" in delivery.last_error
    assert delivery.claim_token is None


def test_delivery_tasks_have_time_limits_inside_which_a_stalled_batch_is_interrupted():
    for name in (
        "notifications.delivery.deliver",
        "notifications.delivery.deliver_batch",
        "notifications.delivery.send_email_digest",
    ):
        task = app.tasks[name]
        assert task.soft_time_limit and task.time_limit, name
        assert task.soft_time_limit < task.time_limit


def test_a_row_that_fails_before_reaching_the_provider_ends_dead_after_its_attempts(
    settings, fast_retries
):
    use_sms_backend(settings, MisconfiguredSmsBackend)
    delivery = sms_delivery()

    tasks.deliver(delivery.pk)  # eager: the retries run inline, one inside the other

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DEAD
    assert delivery.attempts == settings.DELIVERY_MAX_ATTEMPTS
    assert "SMS provider host is not configured" in delivery.last_error
    assert MisconfiguredSmsBackend.sent == []


def test_a_row_without_attempts_left_is_never_claimed_and_the_sweep_buries_it(
    sms_provider, settings
):
    # Every attempt so far ended with the worker killed mid-send: no outcome was written.
    long_ago = timezone.now() - timedelta(minutes=10)
    delivery = sms_delivery()
    Delivery.objects.filter(pk=delivery.pk).update(
        attempts=settings.DELIVERY_MAX_ATTEMPTS, next_attempt_at=long_ago, created_at=long_ago
    )

    assert tasks.deliver(delivery.pk) == services.SKIPPED
    services.deliveries_enqueue_due()

    delivery.refresh_from_db()
    assert sms_provider.requests == []
    assert delivery.status == DeliveryStatus.DEAD
    assert "no outcome after" in delivery.last_error
