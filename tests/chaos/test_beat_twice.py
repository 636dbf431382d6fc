"""Beat started twice by mistake: each reminder, digest and purge still happens once."""

import re

import pytest

from tests.chaos.stack import wait_until

pytestmark = pytest.mark.chaos

SETUP = """
from datetime import timedelta
from django.contrib.auth import get_user_model
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask, PeriodicTasks
from events.services import event_create, registration_create
from notifications.models import Delivery, Notification
from notifications.services import notify

from notifications.models import ContactPoint

User = get_user_model()
now = timezone.now()
people = User.objects.bulk_create(
    [User(username=f"att{n}", email=f"att{n}@example.com") for n in range(3)]
    + [User(username=name, email=f"{name}@example.com") for name in ("dig0", "old0")]
)
ContactPoint.objects.bulk_create(
    [ContactPoint(user=user, email_verified=user.email) for user in people]
)
organizer = User.objects.create(username="organizer", email="organizer@example.com")
event = event_create(organizer=organizer, title="Chaos night", location="Hall",
                     starts_at=now + timedelta(minutes=40), ends_at=now + timedelta(hours=2),
                     capacity=10)
for user in User.objects.filter(username__startswith="att"):
    registration_create(user=user, event=event)
[digest_user] = User.objects.filter(username__startswith="dig")
held = []
for number in range(3):
    held += notify(kind="event_updated", recipients=[digest_user], priority="low",
                   dedupe_key=f"digest:{number}",
                   context={"event_title": f"Low {number}"}).notification_ids
long_ago = now - timedelta(minutes=20)
Delivery.objects.filter(notification_id__in=held).update(next_attempt_at=long_ago,
                                                         created_at=long_ago)
[old_user] = User.objects.filter(username__startswith="old")
old = []
for number in range(4):
    old += notify(kind="event_updated", recipients=[old_user], dedupe_key=f"old:{number}",
                  context={"event_title": "Old"}).notification_ids
Notification.objects.filter(pk__in=old[:3]).update(
    is_read=True, read_at=now - timedelta(days=90))
Notification.objects.filter(pk=old[3]).update(is_read=True, read_at=now)
# The nightly purge runs every 2 seconds here.
every_two = IntervalSchedule.objects.get(every=2, period="seconds")
PeriodicTask.objects.filter(task="notifications.tasks.purge_notifications").update(
    interval=every_two, crontab=None)
PeriodicTasks.update_changed()
result = {
    "held": held, "old": old, "digest_email": digest_user.email,
    "attendees": list(
        User.objects.filter(username__startswith="att").values_list("pk", flat=True)
    ),
}
"""


def test_two_beats_send_each_reminder_digest_and_purge_once(make_stack, smtp):
    stack = make_stack(**smtp.env())
    setup = stack.django(SETUP)
    digest_email = setup["digest_email"]
    beats = [stack.start_beat(), stack.start_beat()]  # their jobs queue until the worker is up
    stack.start_worker()

    def reminders():
        return stack.postgres.query(
            "SELECT id, recipient_id FROM notifications_notification "
            "WHERE kind = 'event_reminder'"
        )

    wait_until(lambda: len(reminders()) == 3, timeout=90, what="the reminders")
    wait_until(lambda: smtp.per_recipient()[digest_email] >= 1, timeout=90,
               what="the digest")
    wait_until(
        lambda: stack.postgres.scalar(
            "SELECT count(*) FROM notifications_notification WHERE id = ANY(%s)",
            (setup["old"],),
        ) == 1,
        timeout=60, what="the purge",
    )
    # Let both beats fire every job a few more times.
    marks = [stack.log_of(beat).count("Sending due task") for beat in beats]
    wait_until(
        lambda: all(stack.log_of(beat).count("Sending due task") >= mark + 12
                    for beat, mark in zip(beats, marks)),
        timeout=60, what="more beat rounds",
    )
    wait_until(
        lambda: stack.postgres.scalar(
            "SELECT count(*) FROM notifications_delivery WHERE status IN ('pending', 'failed') "
            "AND notification_id IN (SELECT id FROM notifications_notification "
            "WHERE kind = 'event_reminder')"
        ) == 0,
        timeout=60, what="the reminder emails",
    )

    assert sorted(recipient for _, recipient in reminders()) == sorted(setup["attendees"])
    reminder_ids = {notification_id for notification_id, _ in reminders()}
    emailed = [
        int(found.group(1))
        for _, message_id in smtp.accepted
        if (found := re.search(r"notification\.(\d+)@", message_id))
    ]
    assert sorted(i for i in emailed if i in reminder_ids) == sorted(reminder_ids)
    assert smtp.per_recipient()[digest_email] == 1
    digest = [m for r, m in smtp.accepted if r == digest_email]
    assert all(str(i) in digest[0] for i in setup["held"])
    assert stack.postgres.scalar(
        "SELECT count(*) FROM notifications_notification WHERE id = ANY(%s)", (setup["old"],)
    ) == 1
