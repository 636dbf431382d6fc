"""After commit, each step of notify() stands on its own, and whatever did not go out (Redis or
the broker down at commit, the process gone) is sent again from the database by the relay."""

import socket

import pytest
from django.core import mail

from notifications import selectors, services
from notifications.kinds import EVENT_UPDATED, RATE_LIMIT_SUMMARY
from notifications.models import Delivery, DeliveryStatus, Notification, NotifyRelay
from notifications.services import NotifyRequest, notify, notify_many

pytestmark = pytest.mark.django_db


@pytest.fixture
def unreachable_cache(settings):
    """The cache pointed at a port nobody listens on: every cache call fails, as when Redis is
    down. Returns a function that points it back."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    working = settings.CACHES
    settings.CACHES = {
        "default": {**working["default"], "LOCATION": f"redis://127.0.0.1:{port}/0"}
    }

    def restore():
        settings.CACHES = working

    return restore


@pytest.mark.services
def test_a_cache_failure_in_the_first_step_does_not_skip_the_push_or_the_email(
    alice, unreachable_cache, django_capture_on_commit_callbacks, notification_outbox
):
    with django_capture_on_commit_callbacks(execute=True):
        result = notify(kind=EVENT_UPDATED, recipients=[alice], dedupe_key="event:1:v1",
                        context={"event_title": "Quiz"})

    # The unread counter (Redis) failed first; the toast and the email still went out.
    assert notification_outbox.kinds_for(alice, channel="in_app") == [EVENT_UPDATED]
    assert len(mail.outbox) == 1
    # The failed step is owed: the relay row stays for the relay.
    assert NotifyRelay.objects.count() == 1

    unreachable_cache()
    assert services.notifications_relay(grace_seconds=0) == 1

    assert NotifyRelay.objects.count() == 0
    assert len(mail.outbox) == 1  # the delivery was already claimed and sent: not again
    assert selectors.unread_counts([alice.pk]) == {alice.pk: 1}
    [notification_id] = result.notification_ids
    assert {item.notification_id for item in notification_outbox.for_user(alice)} == {
        notification_id
    }


def test_work_that_never_left_after_commit_is_relayed_from_the_database(
    alice, settings, django_capture_on_commit_callbacks, notification_outbox
):
    settings.NOTIFICATIONS_RATE_LIMIT_COUNT = 1
    settings.NOTIFICATIONS_RATE_LIMIT_WINDOW_SECONDS = 3600
    # The process dies between commit and the after-commit work: it never runs.
    with django_capture_on_commit_callbacks(execute=False):
        first = notify(kind=EVENT_UPDATED, recipients=[alice], dedupe_key="event:3:v1",
                       context={"event_title": "Quiz"})
    with django_capture_on_commit_callbacks(execute=False):
        second = notify(kind=EVENT_UPDATED, recipients=[alice], dedupe_key="event:3:v2",
                        context={"event_title": "Quiz"})
    assert second.rate_limited == 1
    assert NotifyRelay.objects.count() == 2
    assert notification_outbox.for_user(alice) == []

    with django_capture_on_commit_callbacks(execute=True):
        assert services.notifications_relay(grace_seconds=0) == 2

    assert NotifyRelay.objects.count() == 0
    # The toast of the first (the second was rate-limited), its email, and the summary.
    assert notification_outbox.kinds_for(alice, channel="in_app") == [
        EVENT_UPDATED, RATE_LIMIT_SUMMARY
    ]
    delivery = Delivery.objects.get(notification_id=first.notification_ids[0])
    assert delivery.status == DeliveryStatus.SENT
    summary = Notification.objects.get(recipient=alice, kind=RATE_LIMIT_SUMMARY)
    assert summary.data["count"] == 1


def test_the_relay_leaves_recent_calls_to_their_own_after_commit_work(
    alice, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        notify(kind=EVENT_UPDATED, recipients=[alice], dedupe_key="event:2:v1",
               context={"event_title": "Quiz"})

    assert services.notifications_relay() == 0
    assert NotifyRelay.objects.count() == 1


def _queued_tasks(monkeypatch) -> list[str]:
    queued = []

    def enqueue(task_name, *args, **kwargs):
        queued.append(task_name)
        return real_enqueue(task_name, *args, **kwargs)

    real_enqueue = services.enqueue
    monkeypatch.setattr(services, "enqueue", enqueue)
    return queued


def test_a_small_fan_out_is_pushed_at_commit_and_a_large_one_through_celery(
    alice, bob, settings, monkeypatch, django_capture_on_commit_callbacks, notification_outbox
):
    queued = _queued_tasks(monkeypatch)
    settings.NOTIFICATIONS_INLINE_PUSH_MAX = 2
    with django_capture_on_commit_callbacks(execute=True):
        notify(kind=EVENT_UPDATED, recipients=[alice, bob], dedupe_key="event:4:v1",
               context={"event_title": "Quiz"})
    assert "notifications.tasks.push_in_app" not in queued
    assert notification_outbox.kinds_for(bob, channel="in_app") == [EVENT_UPDATED]

    settings.NOTIFICATIONS_INLINE_PUSH_MAX = 1
    with django_capture_on_commit_callbacks(execute=True):
        notify(kind=EVENT_UPDATED, recipients=[alice, bob], dedupe_key="event:4:v2",
               context={"event_title": "Quiz"})
    assert queued.count("notifications.tasks.push_in_app") == 1
    assert notification_outbox.kinds_for(bob, channel="in_app") == [EVENT_UPDATED] * 2


def test_a_batch_of_several_requests_queues_its_push_to_keep_the_request_short(
    alice, bob, monkeypatch, django_capture_on_commit_callbacks, notification_outbox
):
    queued = _queued_tasks(monkeypatch)
    with django_capture_on_commit_callbacks(execute=True):
        notify_many([
            NotifyRequest(kind=EVENT_UPDATED, recipients=[user], dedupe_key="event:5:v1",
                          context={"event_title": "Quiz"})
            for user in (alice, bob)
        ])
    assert queued.count("notifications.tasks.push_in_app") == 1
    assert notification_outbox.kinds_for(bob, channel="in_app") == [EVENT_UPDATED]
