"""Every mutation through /graphql/ with a session (sendNotification with an API key)."""

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from events import services as event_services
from notifications.api.services import api_key_create, api_key_revoke
from notifications.kinds import EVENT_UPDATED
from notifications.models import Notification, QuietHours, Subscription
from tests.events.factories import EventFactory
from tests.factories import UserFactory
from tests.graphql.conftest import GraphQLClient, logged_in, notify_user

pytestmark = pytest.mark.django_db

ROW_MUTATION = """mutation($id: ID!) { %s(id: $id) {
    notification { id isRead } changed unreadCount errors { code message } } }"""


def codes(payload) -> list[str]:
    return [error["code"] for error in payload["errors"]]


def test_mark_read_unread_and_dismiss_change_only_the_viewers_rows(gql, alice, bob):
    mine = notify_user(alice, "mine")
    bobs = notify_user(bob, "bob's")

    read = gql.data(ROW_MUTATION % "markRead", {"id": mine})["markRead"]
    assert read["notification"] == {"id": str(mine), "isRead": True}
    assert read["changed"] is True and read["errors"] == []
    again = gql.data(ROW_MUTATION % "markRead", {"id": mine})["markRead"]
    assert again["changed"] is False
    unread = gql.data(ROW_MUTATION % "markUnread", {"id": mine})["markUnread"]
    assert unread["notification"]["isRead"] is False
    dismissed = gql.data(ROW_MUTATION % "dismiss", {"id": mine})["dismiss"]
    assert dismissed["changed"] is True
    assert dismissed["notification"] is None  # no longer in the center
    assert Notification.objects.get(pk=mine).dismissed_at is not None

    for name in ("markRead", "markUnread", "dismiss"):
        refused = gql.data(ROW_MUTATION % name, {"id": bobs})[name]
        assert codes(refused) == ["NOT_FOUND"]
        assert refused["notification"] is None and refused["changed"] is None
    bob_row = Notification.objects.get(pk=bobs)
    assert not bob_row.is_read and bob_row.dismissed_at is None
    assert codes(gql.data(ROW_MUTATION % "markRead", {"id": "nope"})["markRead"]) == ["NOT_FOUND"]


def test_mark_all_read_and_clear_all(gql, alice, bob):
    for n in range(3):
        notify_user(alice, f"a{n}")
    bobs = notify_user(bob, "b")
    marked = gql.data("mutation { markAllRead { count errors { code } } }")["markAllRead"]
    assert marked == {"count": 3, "errors": []}
    cleared = gql.data("mutation { clearAll { count } }")["clearAll"]
    assert cleared == {"count": 3}
    assert gql.data("{ me { notifications { edges { cursor } } } }") == {
        "me": {"notifications": {"edges": []}}
    }
    assert Notification.objects.get(pk=bobs).dismissed_at is None


@pytest.mark.django_db(transaction=True)
def test_read_state_payloads_carry_the_badge_number(alice):
    gql = logged_in(alice)
    first = notify_user(alice, "one")
    notify_user(alice, "two")
    assert gql.data("{ me { unreadCount } }") == {"me": {"unreadCount": 2}}
    read = gql.data(ROW_MUTATION % "markRead", {"id": first})["markRead"]
    assert read["unreadCount"] == 1
    assert gql.data("mutation { markAllRead { unreadCount } }")["markAllRead"] == {
        "unreadCount": 0
    }
    assert gql.data("{ me { unreadCount } }") == {"me": {"unreadCount": 0}}


def test_set_preference(gql, alice):
    query = """mutation($kind: String!) { setPreference(kind: $kind, channel: EMAIL,
        enabled: false) { kind channel enabled errors { code message } } }"""
    done = gql.data(query, {"kind": EVENT_UPDATED})["setPreference"]
    assert done == {"kind": EVENT_UPDATED, "channel": "EMAIL", "enabled": False, "errors": []}
    prefs = gql.data("{ preferences { kind channels { channel enabled } } }")["preferences"]
    row = next(row for row in prefs if row["kind"] == EVENT_UPDATED)
    assert {"channel": "EMAIL", "enabled": False} in row["channels"]
    refused = gql.data(query, {"kind": "no_such_kind"})["setPreference"]
    assert codes(refused) == ["INVALID"] and refused["kind"] is None


def test_set_and_clear_quiet_hours(gql, alice):
    query = """mutation($tz: String!) { setQuietHours(start: "22:30:00", end: "06:00:00",
        timeZone: $tz) { quietHours { start end timeZone } errors { code } } }"""
    done = gql.data(query, {"tz": "Europe/Paris"})["setQuietHours"]
    assert done["quietHours"] == {"start": "22:30:00", "end": "06:00:00",
                                  "timeZone": "Europe/Paris"}
    assert codes(gql.data(query, {"tz": "Mars/Olympus"})["setQuietHours"]) == ["INVALID"]
    assert QuietHours.objects.get(user=alice).time_zone == "Europe/Paris"
    cleared = gql.data("mutation { clearQuietHours { changed errors { code } } }")
    assert cleared["clearQuietHours"] == {"changed": True, "errors": []}
    assert not QuietHours.objects.filter(user=alice).exists()


EVENT_MUTATION = """mutation($id: ID!) { %s(eventId: $id) {
    event { id placesLeft following myRegistration { status } }
    registration { status waitlistPosition } errors { code message } } }"""


def test_follow_and_unfollow(gql, alice):
    event = EventFactory()
    followed = gql.data(EVENT_MUTATION % "follow", {"id": event.pk})["follow"]
    assert followed["event"]["following"] is True
    assert Subscription.objects.filter(user=alice, topic=f"events.event:{event.pk}").exists()
    unfollowed = gql.data(EVENT_MUTATION % "unfollow", {"id": event.pk})["unfollow"]
    assert unfollowed["event"]["following"] is False
    assert codes(gql.data(EVENT_MUTATION % "follow", {"id": 987654})["follow"]) == ["NOT_FOUND"]


def test_register_wait_and_leave(gql, alice):
    event = EventFactory(capacity=1)
    event_services.registration_create(user=UserFactory(), event=event)
    waiting = gql.data(EVENT_MUTATION % "registerForEvent", {"id": event.pk})
    payload = waiting["registerForEvent"]
    assert payload["registration"] == {"status": "WAITLISTED", "waitlistPosition": 1}
    assert payload["event"]["placesLeft"] == 0
    assert payload["event"]["myRegistration"] == {"status": "WAITLISTED"}
    left = gql.data(EVENT_MUTATION % "leaveEvent", {"id": event.pk})["leaveEvent"]
    assert left["registration"]["status"] == "CANCELLED" and left["errors"] == []

    started = EventFactory(starts_at=timezone.now() - timedelta(minutes=5))
    closed = gql.data(EVENT_MUTATION % "registerForEvent", {"id": started.pk})
    assert codes(closed["registerForEvent"]) == ["CLOSED"]
    cancelled = EventFactory()
    event_services.event_cancel(event=cancelled, actor=None)
    closed = gql.data(EVENT_MUTATION % "registerForEvent", {"id": cancelled.pk})
    assert codes(closed["registerForEvent"]) == ["CLOSED"]
    missing = gql.data(EVENT_MUTATION % "registerForEvent", {"id": 123456})
    assert codes(missing["registerForEvent"]) == ["NOT_FOUND"]


@pytest.mark.parametrize(
    "mutation",
    [
        'markRead(id: "1") { errors { code } }',
        "markAllRead { errors { code } }",
        "clearAll { errors { code } }",
        'setPreference(kind: "event_updated", channel: SMS, enabled: true) { errors { code } }',
        'setQuietHours(start: "01:00:00", end: "02:00:00") { errors { code } }',
        "clearQuietHours { errors { code } }",
        'follow(eventId: "1") { errors { code } }',
        'leaveEvent(eventId: "1") { errors { code } }',
    ],
)
def test_anonymous_mutations_are_refused_in_the_payload(anonymous_gql, mutation):
    data = anonymous_gql.data(f"mutation {{ {mutation} }}")
    (payload,) = data.values()
    assert codes(payload) == ["UNAUTHENTICATED"]


SEND = """mutation($input: SendNotificationInput!, $key: String!) {
  sendNotification(input: $input, idempotencyKey: $key) {
    created duplicates notificationIds replayed errors { code message field } } }"""


@pytest.fixture
def service():
    """A service's client: an API key and no session, and CSRF enforced as in production."""
    _, raw_key = api_key_create(name="billing")
    return GraphQLClient(Client(enforce_csrf_checks=True)), raw_key


def send(service, variables, **headers):
    client, raw_key = service
    headers = headers or {"X-Api-Key": raw_key}
    return client(SEND, variables, **headers)["data"]["sendNotification"]


def test_send_notification_with_an_api_key_is_idempotent(service, alice, bob):
    variables = {"key": "invoice-1", "input": {"kind": EVENT_UPDATED,
                                               "recipients": [alice.pk, bob.pk],
                                               "context": {"event_title": "Quiz"}}}
    sent = send(service, variables)
    assert sent["created"] == 2 and sent["replayed"] is False and sent["errors"] == []
    assert Notification.objects.filter(kind=EVENT_UPDATED).count() == 2
    again = send(service, variables, Authorization=f"Bearer {service[1]}")
    assert again["replayed"] is True
    assert again["notificationIds"] == sent["notificationIds"]
    assert Notification.objects.filter(kind=EVENT_UPDATED).count() == 2

    changed = {**variables, "input": {**variables["input"], "recipients": [alice.pk]}}
    assert codes(send(service, changed)) == ["CONFLICT"]


def test_send_notification_validates_like_the_http_api(service, alice):
    unknown_kind = send(service, {"key": "k1", "input": {"kind": "nope", "recipients": [1]}})
    assert codes(unknown_kind) == ["INVALID"]
    assert unknown_kind["errors"][0]["field"] == "kind"
    nobody = send(service, {"key": "k2", "input": {"kind": EVENT_UPDATED}})
    assert codes(nobody) == ["INVALID"]
    bad_subject = send(service, {"key": "k3", "input": {"kind": EVENT_UPDATED,
                                                        "recipients": [alice.pk],
                                                        "subject": "auth.user:1"}})
    assert codes(bad_subject) == ["INVALID"]
    too_long = send(service, {"key": "x" * 151, "input": {"kind": EVENT_UPDATED,
                                                          "recipients": [alice.pk]}})
    assert codes(too_long) == ["INVALID"]
    assert not Notification.objects.exists()


def test_send_notification_needs_a_valid_unrevoked_key_within_its_rate_limit(
    service, alice, gql, settings
):
    variables = {"key": "k", "input": {"kind": EVENT_UPDATED, "recipients": [alice.pk]}}
    assert codes(send(service, variables, **{"X-Api-Key": "wrong.key"})) == ["UNAUTHENTICATED"]
    # A logged-in person is not a service.
    assert codes(gql.data(SEND, variables)["sendNotification"]) == ["UNAUTHENTICATED"]

    settings.API_RATE_LIMIT_PER_MINUTE = 1
    assert send(service, variables)["created"] == 1
    limited = send(service, {**variables, "key": "k-2"})
    assert codes(limited) == ["RATE_LIMITED"]

    api_key, raw_key = api_key_create(name="old")
    api_key_revoke(api_key=api_key)
    assert codes(send((service[0], raw_key), variables)) == ["FORBIDDEN"]
    assert Notification.objects.count() == 1


def test_guessing_keys_through_graphql_is_throttled_per_address_like_the_http_api(
    service, alice, settings
):
    settings.API_INVALID_KEY_RATE_LIMIT = "3/m"
    variables = {"key": "k", "input": {"kind": EVENT_UPDATED, "recipients": [alice.pk]}}
    guesses = [
        codes(send(service, variables, **{"X-Api-Key": f"guess.{n}",
                                          "X-Forwarded-For": f"203.0.113.{n}"}))
        for n in range(4)
    ]
    assert guesses == [["UNAUTHENTICATED"]] * 3 + [["RATE_LIMITED"]]
    # The address is throttled, even with the good key now; the HTTP API shares the tally.
    assert codes(send(service, variables)) == ["RATE_LIMITED"]
    http = service[0].client.post(
        "/api/v1/notifications", json.dumps({"kind": EVENT_UPDATED, "recipients": [alice.pk]}),
        content_type="application/json",
        headers={"X-Api-Key": service[1], "Idempotency-Key": "k"},
    )
    assert http.status_code == 429
    assert not Notification.objects.exists()


def test_an_api_key_request_carries_no_session(service, alice):
    client, raw_key = service
    client.client.force_login(alice)
    document = client("{ me { username } }", **{"X-Api-Key": raw_key})
    assert document["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    body = json.dumps({"query": "{ me { username } }"})
    # Without the key the session counts, and then CSRF is checked.
    assert client.client.post("/graphql/", body, content_type="application/json").status_code == 403


def test_another_users_registration_is_neither_shown_nor_changed(gql, alice, bob):
    event = EventFactory(capacity=3)
    event_services.registration_create(user=bob, event=event)
    shown = gql.data("query($id: ID!) { event(id: $id) { placesLeft myRegistration { status } } }",
                     {"id": event.pk})
    assert shown == {"event": {"placesLeft": 2, "myRegistration": None}}
    left = gql.data(EVENT_MUTATION % "leaveEvent", {"id": event.pk})["leaveEvent"]
    assert left["registration"] is None and left["event"]["placesLeft"] == 2
    assert event.registrations.get(user=bob).status == "confirmed"
