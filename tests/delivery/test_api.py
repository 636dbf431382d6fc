"""POST /api/v1/notifications: key auth, validation, idempotency, rate limit, OpenAPI."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from notifications.api.services import api_key_create, api_key_revoke
from notifications.models import ApiIdempotencyRecord, ApiKey, Notification
from notifications.services import subscription_follow

from .factories import UserFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/notifications"


@pytest.fixture
def api_key():
    return api_key_create(name="events-service")


@pytest.fixture
def readers():
    return UserFactory(), UserFactory()


def post(client, body, *, key=None, idempotency_key="req-1", bearer=False, raw=None):
    headers = {}
    if key is not None:
        headers["Authorization" if bearer else "X-Api-Key"] = f"Bearer {key}" if bearer else key
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    data = raw if raw is not None else json.dumps(body)
    return client.post(URL, data=data, content_type="application/json", headers=headers)


def body_for(users, **extra):
    return {
        "kind": "event_updated",
        "recipients": [user.pk for user in users],
        "context": {"event_title": "Quiz night", "changes": ["starts_at"]},
        "url": "/events/12/",
        **extra,
    }


def test_valid_request_creates_one_notification_per_recipient(
    client, api_key, readers, django_capture_on_commit_callbacks, notification_outbox
):
    _, raw_key = api_key

    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, body_for(readers), key=raw_key)

    assert response.status_code == 201
    data = response.json()
    assert data["created"] == 2
    assert data["duplicates"] == 0
    rows = Notification.objects.filter(pk__in=data["notification_ids"])
    assert {row.recipient_id for row in rows} == {user.pk for user in readers}
    assert {row.url for row in rows} == {"/events/12/"}
    for user in readers:
        assert notification_outbox.kinds_for(user, channel="in_app") == ["event_updated"]


def test_bearer_token_is_accepted_like_the_api_key_header(client, api_key, readers):
    _, raw_key = api_key

    response = post(client, body_for(readers), key=raw_key, bearer=True)

    assert response.status_code == 201


def test_same_request_twice_creates_one_notification_and_replays_the_answer(
    client, api_key, readers
):
    _, raw_key = api_key
    first = post(client, body_for(readers), key=raw_key, idempotency_key="order-77")
    # Same body, other key order and spacing: the same request.
    again = post(
        client,
        None,
        raw=json.dumps(body_for(readers), sort_keys=True, indent=2),
        key=raw_key,
        idempotency_key="order-77",
    )

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Notification.objects.count() == 2
    assert ApiIdempotencyRecord.objects.count() == 1


def test_same_idempotency_key_with_another_body_is_409(client, api_key, readers):
    _, raw_key = api_key
    post(client, body_for(readers), key=raw_key, idempotency_key="order-78")

    response = post(
        client, body_for(readers, url="/events/13/"), key=raw_key, idempotency_key="order-78"
    )

    assert response.status_code == 409
    assert "Idempotency-Key" in response.json()["detail"]
    assert Notification.objects.count() == 2


def test_idempotency_keys_of_different_api_keys_do_not_collide(client, api_key, readers):
    _, first_key = api_key
    _, second_key = api_key_create(name="games-service")

    post(client, body_for(readers), key=first_key, idempotency_key="same")
    response = post(client, body_for(readers), key=second_key, idempotency_key="same")

    assert response.status_code == 201
    assert response.json()["created"] == 2


def test_followers_of_a_topic_are_notified(client, api_key, readers):
    _, raw_key = api_key
    follower = UserFactory()
    subscription_follow(user=follower, topic="events.event:12")

    response = post(
        client,
        {"kind": "event_updated", "topic": "events.event:12", "context": {}},
        key=raw_key,
    )

    assert response.status_code == 201
    assert Notification.objects.get().recipient == follower


def test_subject_reference_links_the_notification_to_that_object(
    client, api_key, readers, settings
):
    settings.API_SUBJECT_APPS = ["auth"]
    _, raw_key = api_key
    subject = UserFactory(username="the-subject")

    response = post(client, body_for(readers, subject=f"auth.user:{subject.pk}"), key=raw_key)

    assert response.status_code == 201
    assert {row.subject for row in Notification.objects.all()} == {subject}


@pytest.mark.parametrize("reference", ["auth.user:999999", "nosuch.model:1"])
def test_subject_that_does_not_exist_is_400(client, api_key, readers, reference, settings):
    settings.API_SUBJECT_APPS = ["auth", "nosuch"]
    _, raw_key = api_key

    response = post(client, body_for(readers, subject=reference), key=raw_key)

    assert response.status_code == 400
    assert response.json() == {"detail": f"Unknown subject {reference!r}"}
    assert Notification.objects.count() == 0


def test_objects_outside_the_subject_apps_cannot_be_named(client, api_key, readers):
    _, raw_key = api_key
    existing_user = f"auth.user:{readers[0].pk}"

    response = post(client, body_for(readers, subject=existing_user), key=raw_key)

    assert response.status_code == 400
    assert Notification.objects.count() == 0


def test_missing_api_key_is_401(client, readers):
    response = post(client, body_for(readers))

    assert response.status_code == 401
    assert response.json() == {"detail": "Missing or invalid API key"}


@pytest.mark.parametrize("bad_key", ["nonsense", "abcd1234.not-the-secret", ""])
def test_unknown_api_key_is_401(client, api_key, readers, bad_key):
    response = post(client, body_for(readers), key=bad_key)

    assert response.status_code == 401


def test_revoked_api_key_is_403(client, api_key, readers):
    key, raw_key = api_key
    api_key_revoke(api_key=key)

    response = post(client, body_for(readers), key=raw_key)

    assert response.status_code == 403
    assert response.json() == {"detail": "This API key has been revoked"}
    assert Notification.objects.count() == 0


@pytest.mark.parametrize(
    "raw, fragment",
    [
        (json.dumps({"kind": "event_updated"}), "recipients"),
        (json.dumps({"kind": "no_such_kind", "recipients": [1]}), "unknown kind"),
        (json.dumps({"kind": "email_digest", "recipients": [1]}), "unknown kind"),
        (json.dumps({"kind": "event_updated", "recipients": [1], "priority": "asap"}), ""),
        (json.dumps({"kind": "event_updated", "recipients": ["me"]}), ""),
        (json.dumps({"kind": "event_updated", "recipients": [1], "colour": "red"}), ""),
        (json.dumps({"kind": "event_updated", "recipients": [1], "subject": "event 12"}), ""),
    ],
)
def test_bad_body_is_400_with_a_message(client, api_key, raw, fragment):
    _, raw_key = api_key

    response = post(client, None, raw=raw, key=raw_key)

    assert response.status_code == 400
    assert response.json()["detail"].startswith("Invalid request")
    assert fragment in json.dumps(response.json()["errors"])
    assert Notification.objects.count() == 0


def test_body_that_is_not_json_is_400(client, api_key):
    _, raw_key = api_key

    response = post(client, None, raw="{not json", key=raw_key)

    assert response.status_code == 400
    assert response.json() == {"detail": "Cannot parse request body"}


@pytest.mark.parametrize("idempotency_key", [None, "k" * 151])
def test_missing_or_overlong_idempotency_key_is_400(client, api_key, readers, idempotency_key):
    _, raw_key = api_key

    response = post(client, body_for(readers), key=raw_key, idempotency_key=idempotency_key)

    assert response.status_code == 400
    assert "Idempotency-Key" in json.dumps(response.json()["errors"])
    assert Notification.objects.count() == 0


def test_over_the_rate_limit_is_429_with_retry_after(client, api_key, readers, settings):
    settings.API_RATE_LIMIT_PER_MINUTE = 2
    _, raw_key = api_key
    other_key = api_key_create(name="other")[1]

    answers = [
        post(client, body_for(readers), key=raw_key, idempotency_key=f"r{n}").status_code
        for n in range(3)
    ]
    limited = post(client, body_for(readers), key=raw_key, idempotency_key="r9")

    assert answers == [201, 201, 429]
    assert limited.status_code == 429
    assert 1 <= int(limited["Retry-After"]) <= 60
    assert "Rate limit" in limited.json()["detail"]
    # The limit is per sender.
    assert post(client, body_for(readers), key=other_key).status_code == 201


def test_api_needs_no_csrf_token(api_key, readers):
    _, raw_key = api_key
    strict = Client(enforce_csrf_checks=True)

    assert post(strict, body_for(readers), key=raw_key).status_code == 201


def test_openapi_document_and_docs_page_are_served(client):
    schema = client.get("/api/v1/openapi.json")
    docs = client.get("/api/v1/docs")

    assert schema.status_code == 200
    operation = schema.json()["paths"]["/api/v1/notifications"]["post"]
    assert {"201", "400", "401", "403", "409", "429"} <= set(operation["responses"])
    assert any(p["name"] == "Idempotency-Key" for p in operation["parameters"])
    assert docs.status_code == 200


def test_create_api_key_command_shows_the_key_once_and_stores_only_its_hash(client, readers):
    out = StringIO()

    call_command("create_api_key", "billing-service", stdout=out)

    raw_key = out.getvalue().strip().splitlines()[-1]
    api_key = ApiKey.objects.get(name="billing-service")
    assert raw_key.startswith(api_key.prefix + ".")
    assert raw_key not in {api_key.hashed_key, api_key.prefix}
    assert api_key.hashed_key == ApiKey.hash(raw_key)
    assert post(client, body_for(readers), key=raw_key).status_code == 201
