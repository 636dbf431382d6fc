"""notify_many: many notify() calls in one batch, with the same guarantees per request."""

import pytest
from django.core import mail

from notifications import selectors, services
from notifications.kinds import EVENT_UPDATED, GAME_SCORED
from notifications.models import Delivery, DeliveryStatus, Notification, NotifyRelay
from notifications.services import NotifyRequest, notify_many

pytestmark = pytest.mark.django_db


def request(user, kind=EVENT_UPDATED, title="Quiz", **extra):
    context = {"event_title": title} if kind == EVENT_UPDATED else {"game_title": title}
    return NotifyRequest(kind=kind, recipients=[user], context=context, **extra)


def test_each_request_gets_its_own_rows_texts_and_result_in_order(
    alice, bob, django_capture_on_commit_callbacks, notification_outbox
):
    with django_capture_on_commit_callbacks(execute=True):
        results = notify_many([
            request(alice, title="Quiz", dedupe_key="a"),
            request(bob, kind=GAME_SCORED, title="Night Train", dedupe_key="b"),
            request(alice, title="Film club", dedupe_key="c", url="/events/7/"),
        ])

    assert [result.created for result in results] == [1, 1, 1]
    rows = [Notification.objects.get(pk=result.notification_ids[0]) for result in results]
    assert [(row.recipient, row.kind, row.dedupe_key) for row in rows] == [
        (alice, EVENT_UPDATED, "a"), (bob, GAME_SCORED, "b"), (alice, EVENT_UPDATED, "c"),
    ]
    assert "Quiz" in rows[0].title and "Film club" in rows[2].title
    assert "Night Train" in rows[1].title
    assert rows[2].url == "/events/7/"
    assert notification_outbox.kinds_for(alice, channel="in_app") == [
        EVENT_UPDATED, EVENT_UPDATED
    ]
    # Alice's badge counts both of her rows, not one.
    assert selectors.unread_counts([alice.pk, bob.pk]) == {alice.pk: 2, bob.pk: 1}
    # One email per event_updated row (alice has an address), none for game_scored.
    assert len(mail.outbox) == 2
    assert NotifyRelay.objects.count() == 0


def test_the_same_recipient_and_dedupe_key_twice_in_a_batch_is_one_row_the_firsts(alice):
    first, second = notify_many([
        request(alice, title="First", dedupe_key="same"),
        request(alice, title="Second", dedupe_key="same"),
    ])

    assert (first.created, first.duplicates) == (1, 0)
    assert (second.created, second.duplicates) == (0, 1)
    assert "First" in Notification.objects.get(recipient=alice).title


def test_a_bad_request_refuses_the_whole_batch_before_anything_is_written(alice):
    with pytest.raises(ValueError):
        notify_many([request(alice, dedupe_key="ok"), request(alice, priority="asap")])

    assert Notification.objects.count() == 0


def test_work_a_batch_never_sent_after_commit_is_relayed_from_the_database(
    alice, bob, django_capture_on_commit_callbacks, notification_outbox
):
    # The process dies between commit and the after-commit work of a batch of several keys.
    with django_capture_on_commit_callbacks(execute=False):
        results = notify_many([
            request(alice, dedupe_key="batch:1"), request(bob, dedupe_key="batch:2"),
        ])
    assert NotifyRelay.objects.count() == 1  # one per kind and priority
    assert notification_outbox.for_user(alice) == []

    with django_capture_on_commit_callbacks(execute=True):
        assert services.notifications_relay(grace_seconds=0) == 1

    assert NotifyRelay.objects.count() == 0
    assert notification_outbox.kinds_for(alice, channel="in_app") == [EVENT_UPDATED]
    assert notification_outbox.kinds_for(bob, channel="in_app") == [EVENT_UPDATED]
    sent = Delivery.objects.filter(
        notification_id__in=[result.notification_ids[0] for result in results],
        status=DeliveryStatus.SENT,
    )
    assert sent.count() == len(mail.outbox) == sum(1 for user in (alice, bob) if user.email)
