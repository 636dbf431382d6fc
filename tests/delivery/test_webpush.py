"""Web push through pywebpush against a local HTTP server standing in for the push service."""

import pytest

from notifications.delivery import services, tasks
from notifications.delivery.backends.webpush import WebPushBackend
from notifications.delivery.breaker import OPEN, CircuitBreaker
from notifications.models import Channel, DeliveryStatus, Priority, PushSubscription

from .factories import DeliveryFactory, NotificationFactory, PushSubscriptionFactory

pytestmark = pytest.mark.django_db


def push_delivery(**notification_fields):
    notification = NotificationFactory(**notification_fields)
    return DeliveryFactory(notification=notification, channel=Channel.PUSH)


def subscribe(user, server, path, keys):
    return PushSubscriptionFactory(user=user, endpoint=server.url(path), **keys)


def test_push_is_encrypted_and_signed_with_the_vapid_key(
    provider_server, vapid, browser_keys, settings
):
    delivery = push_delivery(priority=Priority.HIGH)
    subscribe(delivery.notification.recipient, provider_server, "/push/a", browser_keys())

    assert tasks.deliver(delivery.pk) == services.SENT

    [request] = provider_server.requests
    assert request.path == "/push/a"
    assert request.headers["content-encoding"] == "aes128gcm"
    assert request.headers["urgency"] == "high"
    assert int(request.headers["ttl"]) > 0
    scheme, _, credentials = request.headers["authorization"].partition(" ")
    assert scheme == "vapid"
    assert f"k={settings.VAPID_PUBLIC_KEY}" in credentials
    # The payload is encrypted for the browser: the title never crosses the wire in clear.
    assert delivery.notification.title.encode() not in request.body
    delivery.refresh_from_db()
    assert delivery.provider_message_id == "/messages/msg-1"


def test_410_from_the_push_service_removes_that_subscription(provider_server, vapid, browser_keys):
    delivery = push_delivery()
    user = delivery.notification.recipient
    gone = subscribe(user, provider_server, "/push/gone", browser_keys())
    alive = subscribe(user, provider_server, "/push/alive", browser_keys())
    provider_server.answer("/push/gone", 410)

    assert tasks.deliver(delivery.pk) == services.SENT

    assert not PushSubscription.objects.filter(pk=gone.pk).exists()
    assert PushSubscription.objects.filter(pk=alive.pk).exists()
    assert {request.path for request in provider_server.requests} == {"/push/gone", "/push/alive"}


def test_404_for_the_only_subscription_removes_it_and_the_delivery_is_dead(
    provider_server, vapid, browser_keys
):
    delivery = push_delivery()
    only = subscribe(delivery.notification.recipient, provider_server, "/push/x", browser_keys())
    provider_server.answer("/push/x", 404)

    assert tasks.deliver(delivery.pk) == services.DEAD

    assert not PushSubscription.objects.filter(pk=only.pk).exists()
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DEAD
    assert delivery.attempts == 1
    assert "gone" in delivery.last_error


def test_push_service_error_is_retried_and_keeps_the_subscription(
    provider_server, vapid, browser_keys, settings
):
    settings.DELIVERY_RETRY_BASE_SECONDS = 60
    delivery = push_delivery()
    kept = subscribe(delivery.notification.recipient, provider_server, "/push/y", browser_keys())
    provider_server.answer("/push/y", 502)

    assert tasks.deliver(delivery.pk) == services.FAILED

    assert PushSubscription.objects.filter(pk=kept.pk).exists()
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert "502" in delivery.last_error


def test_recipient_without_browser_subscription_is_dead_without_a_request(provider_server, vapid):
    delivery = push_delivery()

    assert tasks.deliver(delivery.pk) == services.DEAD

    delivery.refresh_from_db()
    assert delivery.last_error == "recipient has no web push subscription"
    assert provider_server.requests == []


def test_an_open_breaker_for_one_push_service_does_not_hold_back_the_others(
    provider_server, second_provider_server, vapid, browser_keys, settings
):
    settings.DELIVERY_BREAKER_THRESHOLD = 2
    settings.DELIVERY_RETRY_BASE_SECONDS = 60
    provider_server.default_status = 503  # this push service is down
    for number in range(2):
        delivery = push_delivery()
        user = delivery.notification.recipient
        subscribe(user, provider_server, f"/push/down-{number}", browser_keys())
        assert tasks.deliver(delivery.pk) == services.FAILED
    down = WebPushBackend().provider_for(provider_server.base_url)
    assert CircuitBreaker(down).state() == OPEN

    delivery = push_delivery()
    user = delivery.notification.recipient
    subscribe(user, provider_server, "/push/phone", browser_keys())
    subscribe(user, second_provider_server, "/push/laptop", browser_keys())
    assert tasks.deliver(delivery.pk) == services.SENT
    assert len(second_provider_server.requests) == 1
    assert provider_server.requests_to("/push/phone") == []  # failed fast, not called

    only_down = push_delivery()
    subscribe(only_down.notification.recipient, provider_server, "/push/tablet", browser_keys())
    assert tasks.deliver(only_down.pk) == services.DEFERRED
    only_down.refresh_from_db()
    assert only_down.attempts == 0
    assert down in only_down.last_error


def test_a_batch_of_pushes_reuses_one_connection_to_the_push_service(
    provider_server, vapid, browser_keys
):
    rows = []
    for number in range(3):
        delivery = push_delivery()
        subscribe(delivery.notification.recipient, provider_server, f"/push/{number}", browser_keys())
        rows.append(delivery.pk)

    assert tasks.deliver_batch(rows) == {services.SENT: 3}

    assert provider_server.connections == 1
