from datetime import timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from config.celery import app
from notifications import selectors, services, tasks
from notifications.kinds import EVENT_UPDATED
from notifications.models import Delivery, Notification
from notifications.services import notify

pytestmark = pytest.mark.django_db


def aged(user, *, days_old, read_days_ago=None, count=1, prefix="n"):
    ids = []
    for n in range(count):
        ids += notify(kind=EVENT_UPDATED, recipients=[user], context={},
                      dedupe_key=f"{prefix}{n}").notification_ids
    now = timezone.now()
    rows = Notification.objects.filter(pk__in=ids)
    rows.update(created_at=now - timedelta(days=days_old))
    if read_days_ago is not None:
        rows.update(is_read=True, read_at=now - timedelta(days=read_days_ago))
    return ids


@pytest.fixture
def retention(settings):
    settings.NOTIFICATIONS_READ_RETENTION_DAYS = 30
    settings.NOTIFICATIONS_UNREAD_RETENTION_DAYS = 180
    settings.NOTIFICATIONS_RATE_LIMIT_COUNT = 1000
    settings.NOTIFICATIONS_PURGE_BATCH_SIZE = 3
    return settings


def test_purge_deletes_only_read_rows_past_retention_and_keeps_unread(alice, bob, retention):
    old_read = aged(alice, days_old=60, read_days_ago=40, count=7, prefix="old-read")
    recently_read = aged(alice, days_old=60, read_days_ago=5, prefix="recent-read")
    old_unread = aged(alice, days_old=60, count=2, prefix="old-unread")
    ancient_unread = aged(bob, days_old=200, prefix="ancient")

    result = services.notifications_purge()

    assert (result.read, result.unread) == (7, 1)
    remaining = set(Notification.objects.values_list("pk", flat=True))
    assert remaining == set(recently_read + old_unread)
    assert not remaining & set(old_read + ancient_unread)
    # Their delivery rows went with them.
    assert not Delivery.objects.filter(notification_id__in=old_read).exists()


def test_purge_is_idempotent_and_the_task_logs_its_count(alice, retention, caplog):
    aged(alice, days_old=60, read_days_ago=40, count=4, prefix="r")
    caplog.set_level("INFO", logger="notifications.tasks")
    assert tasks.purge_notifications() == {"read": 4, "unread": 0}
    assert tasks.purge_notifications() == {"read": 0, "unread": 0}
    assert "Purged notifications: 4 read, 0 unread" in caplog.text


def test_purging_unread_rows_rebuilds_the_badge(alice, retention):
    aged(alice, days_old=200, count=2, prefix="ancient")
    aged(alice, days_old=0, prefix="fresh")
    assert selectors.unread_count(user=alice) == 3
    services.notifications_purge()
    assert selectors.unread_count(user=alice) == 1


def test_beat_runs_the_purge_nightly_and_the_delivery_sweep_every_minute():
    purge = PeriodicTask.objects.get(task="notifications.tasks.purge_notifications")
    sweep = PeriodicTask.objects.get(task="notifications.delivery.enqueue_due_deliveries")
    assert (purge.crontab.hour, purge.crontab.minute, purge.enabled) == ("3", "17", True)
    assert (sweep.interval.every, sweep.interval.period, sweep.enabled) == (1, "minutes", True)
    # Both names resolve to registered tasks.
    app.loader.import_default_modules()
    assert {purge.task, sweep.task} <= set(app.tasks)
