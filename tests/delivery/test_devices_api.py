"""Phone apps register their push tokens over /api/v1/devices (session or device secret) and
the GraphQL mutations; many devices per user, one row per token."""

import json

import pytest
from django.test import Client

from notifications.models import MobileDevice
from tests.graphql.conftest import logged_in

from .factories import UserFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/devices"
IOS_TOKEN = "ab" * 32


def post(client, body, **headers):
    return client.post(URL, json.dumps(body), content_type="application/json", headers=headers)


@pytest.fixture
def user_client():
    user = UserFactory()
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get("/account/")  # the page sets the CSRF cookie, as the app's web view has it
    return user, client


def csrf(client) -> dict:
    return {"X-CSRFToken": client.cookies["csrftoken"].value}


def test_a_signed_in_app_registers_many_devices_and_lists_them(user_client):
    user, client = user_client
    assert post(client, {"platform": "ios", "token": IOS_TOKEN}).status_code == 403  # no CSRF
    ios = post(client, {"platform": "ios", "token": IOS_TOKEN.upper(), "app_id": "org.herald.app",
                        "name": "Ada's iPhone"}, **csrf(client))
    android = post(client, {"platform": "android", "token": "fcm:APA91bH-token_123"}, **csrf(client))
    assert (ios.status_code, android.status_code) == (201, 201)
    assert ios.json()["token"] == IOS_TOKEN and len(ios.json()["device_secret"]) > 30
    listed = client.get(URL).json()
    assert {row["platform"] for row in listed} == {"ios", "android"}
    assert "device_secret" not in listed[0]
    assert MobileDevice.objects.filter(user=user).count() == 2
    assert MobileDevice.objects.get(platform="ios").secret_hash != ios.json()["device_secret"]


def test_bad_tokens_and_fields_are_400_with_the_reason(user_client):
    _, client = user_client
    bad = post(client, {"platform": "ios", "token": "not hex"}, **csrf(client))
    assert bad.status_code == 400 and "APNs device token" in json.dumps(bad.json())
    extra = post(client, {"platform": "android", "token": "x" * 30, "admin": True}, **csrf(client))
    assert extra.status_code == 400
    assert post(client, {"platform": "windows", "token": "x" * 30}, **csrf(client)).status_code == 400


def test_the_device_secret_rotates_the_token_and_unregisters_only_that_device(user_client):
    user, client = user_client
    first = post(client, {"platform": "android", "token": "old-fcm-token-0000000001"}, **csrf(client)).json()
    other = post(client, {"platform": "ios", "token": IOS_TOKEN}, **csrf(client)).json()
    app = Client()  # no session: the app with its secret only
    rotated = post(app, {"platform": "android", "token": "new-fcm-token-0000000002"},
                   **{"X-Device-Secret": first["device_secret"]})
    assert rotated.status_code == 201 and rotated.json()["id"] == first["id"]
    assert MobileDevice.objects.get(pk=first["id"]).token == "new-fcm-token-0000000002"
    secret = {"X-Device-Secret": rotated.json()["device_secret"]}
    assert app.delete(f"{URL}/{first['id']}", headers={"X-Device-Secret": first["device_secret"]}
                      ).status_code == 401  # the old secret was replaced
    assert app.delete(f"{URL}/{other['id']}", headers=secret).status_code == 404
    assert app.delete(f"{URL}/{first['id']}", headers=secret).status_code == 204
    assert list(MobileDevice.objects.filter(user=user).values_list("pk", flat=True)) == [other["id"]]


def test_without_a_session_or_secret_it_is_401_and_another_users_device_is_404(user_client):
    _, client = user_client
    response = post(Client(), {"platform": "ios", "token": IOS_TOKEN})
    assert response.status_code == 401 and "X-Device-Secret" in response.json()["detail"]
    foreign = MobileDevice.objects.create(user=UserFactory(), platform="ios", token="cd" * 32)
    assert client.delete(f"{URL}/{foreign.pk}", **{"HTTP_X_CSRFTOKEN": csrf(client)["X-CSRFToken"]}
                         ).status_code == 404
    assert MobileDevice.objects.filter(pk=foreign.pk).exists()


def test_a_token_registered_again_moves_to_the_new_account(user_client):
    user, client = user_client
    previous = UserFactory()
    MobileDevice.objects.create(user=previous, platform="ios", token=IOS_TOKEN)
    assert post(client, {"platform": "ios", "token": IOS_TOKEN}, **csrf(client)).status_code == 201
    assert list(MobileDevice.objects.values_list("user_id", flat=True)) == [user.pk]


REGISTER = """mutation($platform: DevicePlatform!, $token: String!) {
  registerDevice(platform: $platform, token: $token, name: "Pixel") {
    device { id platform name lastSeenAt } deviceSecret errors { code field message } } }"""
UNREGISTER = """mutation($id: ID!) { unregisterDevice(id: $id) { changed errors { code } } }"""


def test_graphql_registers_and_unregisters_the_viewers_devices():
    user, other = UserFactory(), UserFactory()
    gql = logged_in(user)
    done = gql.data(REGISTER, {"platform": "ANDROID", "token": "fcm-token-from-graphql-1"})
    payload = done["registerDevice"]
    assert payload["errors"] == [] and payload["device"]["platform"] == "ANDROID"
    assert payload["deviceSecret"]
    refused = gql.data(REGISTER, {"platform": "IOS", "token": "zz"})["registerDevice"]
    assert refused["device"] is None and refused["errors"][0]["code"] == "INVALID"
    foreign = MobileDevice.objects.create(user=other, platform="ios", token="ef" * 32)
    assert gql.data(UNREGISTER, {"id": foreign.pk})["unregisterDevice"]["errors"] == [
        {"code": "NOT_FOUND"}]
    removed = gql.data(UNREGISTER, {"id": payload["device"]["id"]})["unregisterDevice"]
    assert removed == {"changed": True, "errors": []}
    assert list(MobileDevice.objects.values_list("pk", flat=True)) == [foreign.pk]
