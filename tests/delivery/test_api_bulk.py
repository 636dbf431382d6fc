"""POST /api/v1/notifications/bulk: many notifications under one Idempotency-Key, all or none."""

import json

import pytest
from django.contrib.auth.models import Group

from notifications.api.services import api_key_create
from notifications.models import ApiIdempotencyRecord, Notification, Silenced

from .factories import UserFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/notifications/bulk"


@pytest.fixture
def raw_key():
    return api_key_create(name="billing-service")[1]


@pytest.fixture
def readers():
    return UserFactory(), UserFactory(), UserFactory()


def post(client, body, *, key, idempotency_key="batch-1", raw=None):
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    if key:
        headers["X-Api-Key"] = key
    data = raw if raw is not None else json.dumps(body)
    return client.post(URL, data=data, content_type="application/json", headers=headers)


def one(user, title="Quiz night", **extra):
    return {
        "kind": "event_updated",
        "recipients": [user.pk],
        "context": {"event_title": title, "changes": ["starts_at"]},
        **extra,
    }


def test_each_notification_is_stored_and_answered_in_order(
    client, raw_key, readers, django_capture_on_commit_callbacks, notification_outbox
):
    alice, bob, carol = readers
    body = {"notifications": [
        one(alice, "Quiz night"),
        {"kind": "game_scored", "recipients": [bob.pk, carol.pk], "context": {}},
        one(carol, "Film club", url="/events/7/"),
    ]}

    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, body, key=raw_key)

    assert response.status_code == 201
    answer = response.json()
    assert (answer["created"], answer["duplicates"]) == (4, 0)
    assert [result["created"] for result in answer["results"]] == [1, 2, 1]
    first, second, third = (
        list(Notification.objects.filter(pk__in=result["notification_ids"]))
        for result in answer["results"]
    )
    assert [(row.recipient, row.kind) for row in first] == [(alice, "event_updated")]
    assert "Quiz night" in first[0].title
    assert {(row.recipient, row.kind) for row in second} == {
        (bob, "game_scored"), (carol, "game_scored")
    }
    assert (third[0].recipient, third[0].url) == (carol, "/events/7/")
    assert "Film club" in third[0].title
    assert sorted(notification_outbox.kinds_for(carol, channel="in_app")) == [
        "event_updated", "game_scored"
    ]
    assert notification_outbox.kinds_for(alice, channel="in_app") == ["event_updated"]


def test_a_repeat_replays_the_answer_and_another_body_under_the_key_is_409(
    client, raw_key, readers
):
    alice, bob, _ = readers
    body = {"notifications": [one(alice), one(bob)]}
    first = post(client, body, key=raw_key, idempotency_key="invoices-9")

    again = post(client, body, key=raw_key, idempotency_key="invoices-9")
    other = post(client, {"notifications": [one(alice)]}, key=raw_key,
                 idempotency_key="invoices-9")

    assert again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert other.status_code == 409
    assert Notification.objects.count() == 2
    assert ApiIdempotencyRecord.objects.count() == 1


def test_two_notifications_to_one_user_are_two_unless_they_share_a_dedupe_key(
    client, raw_key, readers
):
    alice, _, _ = readers

    separate = post(client, {"notifications": [one(alice, "A"), one(alice, "B")]}, key=raw_key,
                    idempotency_key="separate")
    shared = post(client, {"notifications": [
        one(alice, "C", dedupe_key="invoice-1"), one(alice, "D", dedupe_key="invoice-1"),
    ]}, key=raw_key, idempotency_key="shared")

    assert [r["created"] for r in separate.json()["results"]] == [1, 1]
    assert [(r["created"], r["duplicates"]) for r in shared.json()["results"]] == [(1, 0), (0, 1)]
    titles = Notification.objects.filter(recipient=alice).values_list("title", flat=True)
    assert sorted(title.split()[0] for title in titles) == ["A", "B", "C"]


def test_a_refused_notification_fails_the_whole_request_and_names_its_place(
    client, readers
):
    alice, bob, _ = readers
    raw_key = api_key_create(name="events-only", kinds=["event_updated"])[1]

    response = post(client, {"notifications": [
        one(alice), {"kind": "game_scored", "recipients": [bob.pk], "context": {}},
    ]}, key=raw_key)

    assert response.status_code == 403
    assert response.json()["detail"].startswith("notifications[1]: ")
    assert "'game_scored'" in response.json()["detail"]
    assert Notification.objects.count() == 0
    assert ApiIdempotencyRecord.objects.count() == 0


def test_recipients_outside_the_keys_groups_are_refused_across_the_request(client, readers):
    alice, bob, _ = readers
    staff = Group.objects.create(name="staff")
    alice.groups.add(staff)
    raw_key = api_key_create(name="staff-only", recipient_groups=[staff])[1]

    refused = post(client, {"notifications": [one(alice), one(bob)]}, key=raw_key,
                   idempotency_key="mixed")
    allowed = post(client, {"notifications": [one(alice), one(alice, "Later")]}, key=raw_key,
                   idempotency_key="members")

    assert refused.status_code == 403
    assert "1 recipients are outside" in refused.json()["detail"]
    assert allowed.status_code == 201
    assert Notification.objects.filter(recipient=bob).count() == 0


def test_an_unknown_subject_is_400_and_nothing_is_stored(client, raw_key, readers):
    alice, bob, _ = readers

    response = post(client, {"notifications": [
        one(alice), one(bob, subject="events.event:999999"),
    ]}, key=raw_key)

    assert response.status_code == 400
    assert response.json()["detail"] == "notifications[1]: Unknown subject 'events.event:999999'"
    assert Notification.objects.count() == 0


@pytest.mark.parametrize(
    "body, fragment",
    [
        ({"notifications": []}, "at least 1"),
        ({"notifications": [{"kind": "event_updated"}]}, "recipients"),
        ({"notifications": [{"kind": "no_such_kind", "recipients": [1]}]}, "unknown kind"),
        ({"notifications": [{"kind": "event_updated", "recipients": [1], "url": "https://evil.example/"}]},
         "url must be"),
        ({"notifications": [{"kind": "event_updated", "recipients": [1]}], "extra": 1}, "extra"),
        ({"kind": "event_updated", "recipients": [1]}, "notifications"),
    ],
)
def test_bad_body_is_400_with_the_place_of_the_fault(client, raw_key, body, fragment):
    response = post(client, body, key=raw_key)

    assert response.status_code == 400
    assert response.json()["detail"].startswith("Invalid request")
    assert fragment in json.dumps(response.json()["errors"]).replace("Extra", "extra")
    assert Notification.objects.count() == 0


def test_more_than_a_thousand_notifications_or_ten_thousand_recipients_is_400(
    client, raw_key, readers
):
    alice, _, _ = readers
    too_many = {"notifications": [one(alice, dedupe_key=f"n{n}") for n in range(1001)]}
    too_wide = {"notifications": [
        {"kind": "event_updated", "recipients": list(range(1, 5001)), "context": {}},
        {"kind": "event_updated", "recipients": list(range(1, 5002)), "context": {}},
    ]}

    many = post(client, too_many, key=raw_key, idempotency_key="many")
    wide = post(client, too_wide, key=raw_key, idempotency_key="wide")

    assert many.status_code == wide.status_code == 400
    assert "at most 1000" in json.dumps(many.json()["errors"])
    assert "10001 recipient ids in all" in wide.json()["detail"]
    assert Notification.objects.count() == 0


def test_the_rate_limit_counts_each_notification_of_the_request(
    client, raw_key, readers, settings
):
    settings.NOTIFICATIONS_RATE_LIMIT_COUNT = 2
    alice, bob, _ = readers

    response = post(client, {"notifications": [
        one(alice, "1"), one(bob, "1"), one(alice, "2"), one(alice, "3"),
    ]}, key=raw_key)

    assert response.status_code == 201
    silenced = dict(
        Notification.objects.filter(recipient=alice).values_list("title", "silenced")
    )
    assert sorted(silenced.values()) == sorted([Silenced.NO, Silenced.NO, Silenced.RATE_LIMIT])
    assert Notification.objects.get(recipient=bob).silenced == Silenced.NO


def test_missing_api_key_is_401(client, readers):
    response = post(client, {"notifications": [one(readers[0])]}, key=None)

    assert response.status_code == 401


def test_the_openapi_document_describes_the_bulk_endpoint(client):
    operation = client.get("/api/v1/openapi.json").json()["paths"][URL]["post"]

    assert {"201", "400", "401", "403", "409", "429"} <= set(operation["responses"])
    assert any(p["name"] == "Idempotency-Key" for p in operation["parameters"])
