"""Every status the HTTP API's OpenAPI document promises is reachable, through Django's test
client: each (operation, status) in the document has a request below that gets exactly it, and a
status documented without such a request fails the test."""

import json

import pytest
from django.test import Client

from notifications.account.services import mobile_device_register
from notifications.api import api
from notifications.api.services import api_key_create, api_key_revoke
from tests.delivery.factories import UserFactory

pytestmark = pytest.mark.django_db

NOTIFICATIONS = "/api/v1/notifications"
BULK = "/api/v1/notifications/bulk"
DEVICES = "/api/v1/devices"
FCM_TOKEN = "fcm-token-" + "a" * 20


def documented_statuses() -> list[tuple[str, int]]:
    schema = api.get_openapi_schema(path_prefix="/api/v1")
    return sorted(
        (operation["operationId"], int(status))
        for operations in schema["paths"].values()
        for operation in operations.values()
        for status in operation["responses"]
    )


def send(client, raw_key, body, idempotency_key="status-1", path=NOTIFICATIONS):
    headers = {"Idempotency-Key": idempotency_key}
    if raw_key:
        headers["X-Api-Key"] = raw_key
    return client.post(path, json.dumps(body), content_type="application/json", headers=headers)


def a_valid_body():
    return {"kind": "event_updated", "recipients": [UserFactory().pk],
            "context": {"event_title": "Quiz"}}


def in_bulk(body):
    return {"notifications": [body]}


def creation_cases(operation: str, path: str, wrap) -> dict:
    """The requests that reach each status of one creating operation (single or bulk)."""

    def post(client, raw_key, body, idempotency_key="status-1"):
        return send(client, raw_key, wrap(body), idempotency_key, path=path)

    def created(client, settings):
        return post(client, api_key_create(name="ok")[1], a_valid_body())

    def bad(client, settings):
        return post(client, api_key_create(name="ok")[1],
                    {"kind": "no_such_kind", "recipients": [1]})

    def no_key(client, settings):
        return post(client, None, a_valid_body())

    def revoked_key(client, settings):
        api_key, raw_key = api_key_create(name="old")
        api_key_revoke(api_key=api_key)
        return post(client, raw_key, a_valid_body())

    def key_reused_with_another_body(client, settings):
        raw_key = api_key_create(name="ok")[1]
        post(client, raw_key, a_valid_body(), idempotency_key="once")
        return post(client, raw_key, a_valid_body(), idempotency_key="once")

    def over_the_rate_limit(client, settings):
        settings.API_RATE_LIMIT_PER_MINUTE = 1
        raw_key = api_key_create(name="ok")[1]
        post(client, raw_key, a_valid_body(), idempotency_key="first")
        return post(client, raw_key, a_valid_body(), idempotency_key="second")

    return {
        (operation, 201): created,
        (operation, 400): bad,
        (operation, 401): no_key,
        (operation, 403): revoked_key,
        (operation, 409): key_reused_with_another_body,
        (operation, 429): over_the_rate_limit,
    }


def logged_in() -> Client:
    client = Client()
    client.force_login(UserFactory())
    return client


def register(client):
    return client.post(DEVICES, json.dumps({"platform": "android", "token": FCM_TOKEN}),
                       content_type="application/json")


def a_device():
    user = UserFactory()
    return mobile_device_register(user=user, platform="android", token=FCM_TOKEN)


CASES = {
    **creation_cases("notifications_create", NOTIFICATIONS, lambda body: body),
    **creation_cases("notifications_create_bulk", BULK, in_bulk),
    ("devices_register", 201): lambda client, settings: register(logged_in()),
    ("devices_register", 400): lambda client, settings: logged_in().post(
        DEVICES, json.dumps({"platform": "ios", "token": "not hex"}),
        content_type="application/json",
    ),
    ("devices_register", 401): lambda client, settings: register(client),
    ("devices_list", 200): lambda client, settings: logged_in().get(DEVICES),
    ("devices_list", 401): lambda client, settings: client.get(
        DEVICES, headers={"X-Device-Secret": "wrong"}
    ),
    ("devices_unregister", 204): lambda client, settings: (
        lambda device, secret: client.delete(
            f"{DEVICES}/{device.pk}", headers={"X-Device-Secret": secret}
        )
    )(*a_device()),
    ("devices_unregister", 401): lambda client, settings: client.delete(f"{DEVICES}/1"),
    ("devices_unregister", 404): lambda client, settings: (
        lambda device, secret: client.delete(
            f"{DEVICES}/{device.pk + 1000}", headers={"X-Device-Secret": secret}
        )
    )(*a_device()),
}


@pytest.mark.parametrize("operation, status", documented_statuses())
def test_every_documented_status_is_reachable(operation, status, client, settings):
    case = CASES.get((operation, status))
    assert case is not None, f"No request in this test reaches {operation} {status}"
    response = case(client, settings)
    assert response.status_code == status, response.content
    if status >= 400:
        assert response.json()["detail"]


def test_no_request_here_is_for_a_status_the_document_does_not_promise():
    assert sorted(CASES) == documented_statuses()
