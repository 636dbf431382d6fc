"""Celery tasks of the notifications app: thin, idempotent, given ids."""

import logging

from celery import shared_task

from notifications import services
from notifications.api import services as api_services
from notifications.realtime import push

logger = logging.getLogger(__name__)


@shared_task(name="notifications.tasks.push_in_app", ignore_result=True)
def push_in_app(notification_ids: list[int]) -> int:
    """Push new notifications to their recipients' open pages (at-least-once)."""
    return push.push_notifications(notification_ids)


@shared_task(name="notifications.tasks.push_badges", ignore_result=True)
def push_badges(user_ids: list[int]) -> None:
    """Refresh the badge on these users' open pages (no toast)."""
    push.push_badges(user_ids)


@shared_task(name="notifications.tasks.send_rate_limit_summaries", ignore_result=True)
def send_rate_limit_summaries(*, kind: str, user_ids: list[int], window: int) -> int:
    """At the end of a rate-limit window: one "and N more" per user (idempotent)."""
    return services.rate_limit_summaries_send(kind=kind, user_ids=user_ids, window=window)


@shared_task(name="notifications.tasks.purge_notifications", ignore_result=True)
def purge_notifications() -> dict:
    """Nightly: delete read rows past retention (and very old unread ones), in small batches."""
    result = services.notifications_purge()
    records = api_services.api_idempotency_purge()
    logger.info("Purged notifications: %s read, %s unread; %s idempotency records",
                result.read, result.unread, records)
    return {"read": result.read, "unread": result.unread}


@shared_task(name="notifications.tasks.relay_owed_work", ignore_result=True)
def relay_owed_work() -> int:
    """Every minute (beat): send what committed notify() calls still owe (broker down at commit)."""
    return services.notifications_relay()
