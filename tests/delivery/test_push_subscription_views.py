"""The page registers and forgets its browser's web push subscription."""

import json

import pytest
from django.test import Client

from notifications.models import PushSubscription

from .factories import PushSubscriptionFactory, UserFactory

pytestmark = pytest.mark.django_db

SUBSCRIBE = "/notifications/push/subscribe"
UNSUBSCRIBE = "/notifications/push/unsubscribe"
ENDPOINT = "https://fcm.googleapis.com/fcm/send/abc123"


def subscription_json(browser_keys, endpoint=ENDPOINT):
    return {"endpoint": endpoint, "expirationTime": None, "keys": browser_keys()}


def post_json(client, url, data, **extra):
    return client.post(url, data=json.dumps(data), content_type="application/json", **extra)


def test_logged_in_browser_registers_its_subscription(reader_client, browser_keys):
    data = subscription_json(browser_keys)

    response = post_json(reader_client, SUBSCRIBE, data, HTTP_USER_AGENT="Firefox/140")

    assert response.status_code == 201
    subscription = PushSubscription.objects.get(pk=response.json()["id"])
    assert subscription.user == reader_client.user
    assert subscription.endpoint == ENDPOINT
    assert subscription.p256dh == data["keys"]["p256dh"]
    assert subscription.user_agent == "Firefox/140"


def test_registering_the_same_browser_again_keeps_one_row(reader_client, browser_keys):
    post_json(reader_client, SUBSCRIBE, subscription_json(browser_keys))
    newer = subscription_json(browser_keys)

    post_json(reader_client, SUBSCRIBE, newer)

    subscription = PushSubscription.objects.get()
    assert subscription.auth == newer["keys"]["auth"]


@pytest.mark.parametrize(
    "data",
    [
        {"endpoint": "http://push.example/insecure", "keys": {"p256dh": "BAb", "auth": "x"}},
        {"endpoint": ENDPOINT},
        {"endpoint": ENDPOINT, "keys": {"p256dh": "not base64!", "auth": "abc"}},
        ["not", "an", "object"],
    ],
)
def test_malformed_subscription_is_400(reader_client, data):
    response = post_json(reader_client, SUBSCRIBE, data)

    assert response.status_code == 400
    assert response.json()["detail"]
    assert not PushSubscription.objects.exists()


def test_anonymous_request_is_401(client, browser_keys):
    response = post_json(client, SUBSCRIBE, subscription_json(browser_keys))

    assert response.status_code == 401
    assert not PushSubscription.objects.exists()


def test_subscribing_needs_the_csrf_token(browser_keys):
    client = Client(enforce_csrf_checks=True)
    client.force_login(UserFactory())

    response = post_json(client, SUBSCRIBE, subscription_json(browser_keys))

    assert response.status_code == 403
    assert not PushSubscription.objects.exists()


def test_get_is_not_allowed(reader_client):
    assert reader_client.get(SUBSCRIBE).status_code == 405


def test_browser_unsubscribes_its_own_subscription(reader_client):
    PushSubscriptionFactory(user=reader_client.user, endpoint=ENDPOINT)

    response = post_json(reader_client, UNSUBSCRIBE, {"endpoint": ENDPOINT})

    assert response.status_code == 204
    assert not PushSubscription.objects.exists()


def test_another_users_subscription_cannot_be_removed(reader_client):
    PushSubscriptionFactory(user=UserFactory(), endpoint=ENDPOINT)

    response = post_json(reader_client, UNSUBSCRIBE, {"endpoint": ENDPOINT})

    assert response.status_code == 404
    assert PushSubscription.objects.count() == 1


def test_the_preferences_page_gives_the_browser_the_vapid_public_key(reader_client, settings):
    settings.VAPID_PUBLIC_KEY = "BPublicKeyForTheBrowser"

    response = reader_client.get("/notifications/preferences/")

    assert 'data-vapid-public-key="BPublicKeyForTheBrowser"' in response.content.decode()
