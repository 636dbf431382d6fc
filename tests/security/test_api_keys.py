"""API keys are scoped (kinds, urgency, recipient groups), guessing keys is throttled, and
idempotency records expire."""

import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from notifications.api.services import api_idempotency_purge, api_key_create
from notifications.models import ApiIdempotencyRecord, Notification
from notifications.services import subscription_follow
from tests.delivery.factories import UserFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/notifications"


def post(client, raw_key, body, idempotency_key="req-1", forwarded_for="198.51.100.1"):
    return client.post(
        URL, data=json.dumps(body), content_type="application/json",
        headers={"X-Api-Key": raw_key, "Idempotency-Key": idempotency_key,
                 "X-Forwarded-For": forwarded_for},
    )


def test_a_key_sends_only_its_kinds(client):
    _, raw_key = api_key_create(name="events", kinds=["event_updated"])
    user = UserFactory()

    refused = post(client, raw_key, {"kind": "event_reminder", "recipients": [user.pk]})
    allowed = post(client, raw_key, {"kind": "event_updated", "recipients": [user.pk]}, "req-2")

    assert refused.status_code == 403
    assert "may not send 'event_reminder'" in refused.json()["detail"]
    assert allowed.status_code == 201


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "event_updated", "priority": "urgent"},
        {"kind": "event_cancelled"},  # urgent by default
    ],
)
def test_urgent_needs_a_key_that_may_send_urgent(client, body):
    _, plain = api_key_create(name="plain")
    _, urgent = api_key_create(name="urgent", allow_urgent=True)
    user = UserFactory()

    refused = post(client, plain, {**body, "recipients": [user.pk]})
    allowed = post(client, urgent, {**body, "recipients": [user.pk]})

    assert refused.status_code == 403
    assert "urgent" in refused.json()["detail"]
    assert allowed.status_code == 201
    assert Notification.objects.filter(recipient=user).count() == 1


def test_a_key_limited_to_groups_reaches_only_their_members(client):
    members = Group.objects.create(name="members")
    inside, outside = UserFactory(), UserFactory()
    inside.groups.add(members)
    _, raw_key = api_key_create(name="club", recipient_groups=[members])
    subscription_follow(user=inside, topic="events.event:1")
    subscription_follow(user=outside, topic="events.event:1")

    refused = post(client, raw_key, {"kind": "event_updated", "recipients": [inside.pk, outside.pk]})
    by_topic = post(client, raw_key, {"kind": "event_updated", "topic": "events.event:1"}, "req-2")

    assert refused.status_code == 403
    assert "1 recipients are outside" in refused.json()["detail"]
    assert by_topic.status_code == 201
    assert list(Notification.objects.values_list("recipient", flat=True)) == [inside.pk]


def test_guessing_keys_is_throttled_per_address_whatever_it_forwards(client, settings):
    settings.API_INVALID_KEY_RATE_LIMIT = "3/m"
    _, good_key = api_key_create(name="real")
    user = UserFactory()
    body = {"kind": "event_updated", "recipients": [user.pk]}

    statuses = [
        post(client, f"{good_key[:9]}guess{n}", body, forwarded_for=f"203.0.113.{n}").status_code
        for n in range(4)
    ]
    after = post(client, good_key, body, forwarded_for="203.0.113.99")

    assert statuses == [401, 401, 401, 429]
    assert after.status_code == 429  # the address is throttled, even with a good key now
    assert int(after["Retry-After"]) > 0


def test_idempotency_records_expire(client, settings):
    settings.API_IDEMPOTENCY_RETENTION_HOURS = 24
    _, raw_key = api_key_create(name="billing")
    user = UserFactory()
    assert post(client, raw_key, {"kind": "event_updated", "recipients": [user.pk]}).status_code == 201
    ApiIdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=25))

    # An expired key is free again: another body is a new request, not a conflict.
    again = post(client, raw_key, {"kind": "event_reminder", "recipients": [user.pk]})
    assert again.status_code == 201
    assert again.get("Idempotent-Replayed") is None

    ApiIdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=25))
    assert api_idempotency_purge() == 1
    assert not ApiIdempotencyRecord.objects.exists()
