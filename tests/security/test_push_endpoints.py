"""Push endpoints: only real push services, never internal addresses, no redirects, capped."""

import json
import socket

import pytest

from notifications.delivery import services, tasks
from notifications.models import Channel, DeliveryStatus, PushSubscription
from tests.delivery.factories import (
    DeliveryFactory,
    NotificationFactory,
    PushSubscriptionFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

SUBSCRIBE = "/notifications/push/subscribe"
FCM = "https://fcm.googleapis.com/fcm/send/"


@pytest.fixture
def reader(reader_client):
    return reader_client


def subscribe(client, endpoint, keys):
    return client.post(
        SUBSCRIBE,
        data=json.dumps({"endpoint": endpoint, "keys": keys}),
        content_type="application/json",
    )


def test_an_endpoint_outside_the_push_services_is_refused(reader, browser_keys):
    response = subscribe(reader, "https://attacker.example/collect", browser_keys())

    assert response.status_code == 400
    assert "WEBPUSH_ALLOWED_HOSTS" in response.json()["detail"]
    assert not PushSubscription.objects.exists()


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://127.0.0.1:6379/",
        "https://localhost/push",
        "https://169.254.169.254/latest/meta-data/",
        "https://10.1.2.3/push",
        "https://192.168.0.10/push",
        "https://[::1]/push",
        "https://[::ffff:127.0.0.1]/push",
    ],
)
def test_an_endpoint_on_an_internal_address_is_refused_even_when_its_host_is_allowed(
    reader, browser_keys, settings, endpoint
):
    settings.WEBPUSH_ALLOWED_HOSTS = [
        "127.0.0.1", "localhost", "169.254.169.254", "10.1.2.3", "192.168.0.10", "::1",
        "::ffff:127.0.0.1",
    ]

    response = subscribe(reader, endpoint, browser_keys())

    assert response.status_code == 400
    assert "non-public address" in response.json()["detail"]
    assert not PushSubscription.objects.exists()


def test_a_stored_endpoint_that_resolves_to_loopback_is_not_called_and_is_removed(
    provider_server, vapid, browser_keys, settings
):
    settings.WEBPUSH_ALLOW_PRIVATE_ADDRESSES = False  # the host is allowed, its address is not
    delivery = DeliveryFactory(notification=NotificationFactory(), channel=Channel.PUSH)
    subscription = PushSubscriptionFactory(
        user=delivery.notification.recipient, endpoint=provider_server.url("/push/a"),
        **browser_keys(),
    )

    tasks.deliver(delivery.pk)

    assert provider_server.requests == []
    assert not PushSubscription.objects.filter(pk=subscription.pk).exists()
    delivery.refresh_from_db()
    assert delivery.status != DeliveryStatus.SENT


def test_a_redirect_from_the_push_service_is_not_followed(provider_server, vapid, browser_keys):
    delivery = DeliveryFactory(notification=NotificationFactory(), channel=Channel.PUSH)
    PushSubscriptionFactory(
        user=delivery.notification.recipient, endpoint=provider_server.url("/push/a"),
        **browser_keys(),
    )
    provider_server.answer("/push/a", 307)  # with a Location header

    outcome = tasks.deliver(delivery.pk)

    assert [request.path for request in provider_server.requests] == ["/push/a"]
    assert outcome == services.DEAD


def test_a_user_keeps_at_most_the_configured_number_of_subscriptions(
    reader, browser_keys, settings
):
    settings.WEBPUSH_MAX_SUBSCRIPTIONS_PER_USER = 3

    for number in range(5):
        assert subscribe(reader, f"{FCM}{number}", browser_keys()).status_code == 201

    kept = PushSubscription.objects.filter(user=reader.user).values_list("endpoint", flat=True)
    assert sorted(kept) == [f"{FCM}2", f"{FCM}3", f"{FCM}4"]


def test_another_accounts_subscription_is_not_taken_over_with_other_keys(reader, browser_keys):
    owner = UserFactory()
    PushSubscriptionFactory(user=owner, endpoint=f"{FCM}shared", **browser_keys())

    response = subscribe(reader, f"{FCM}shared", browser_keys())

    assert response.status_code == 409
    assert PushSubscription.objects.get(endpoint=f"{FCM}shared").user == owner


def test_the_same_browser_moves_to_the_account_now_logged_in(reader, browser_keys):
    keys = browser_keys()
    PushSubscriptionFactory(user=UserFactory(), endpoint=f"{FCM}shared", **keys)

    response = subscribe(reader, f"{FCM}shared", keys)

    assert response.status_code == 201
    assert PushSubscription.objects.get(endpoint=f"{FCM}shared").user == reader.user


def test_the_push_timeout_is_short_by_default():
    from django.conf import settings

    # A slow endpoint holds a worker for this long per try.
    assert settings.WEBPUSH_TIMEOUT_SECONDS <= 5


@pytest.fixture
def silent_push_service():
    """A push service that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()


def test_a_push_service_that_never_answers_fails_the_try_at_the_timeout(
    silent_push_service, vapid, browser_keys, settings
):
    settings.WEBPUSH_TIMEOUT_SECONDS = 1
    delivery = DeliveryFactory(notification=NotificationFactory(), channel=Channel.PUSH)
    PushSubscriptionFactory(
        user=delivery.notification.recipient, endpoint=f"{silent_push_service}/push/a",
        **browser_keys(),
    )

    outcome = tasks.deliver(delivery.pk)  # returns: the worker is not held by the endpoint

    assert outcome == services.FAILED
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED and "Timeout" in delivery.last_error
