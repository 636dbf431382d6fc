"""In-app push: per-user events that the NotificationConsumer turns into fragments.

A fan-out's events go out together through ``notifications.realtime.live.publish`` (a few
channel-layer messages for thousands of recipients), to every socket each recipient has open.
"""

from __future__ import annotations

from collections.abc import Iterable

from notifications.realtime import live
from notifications.models import Notification, Silenced
from notifications.selectors import unread_counts

BODY_PREVIEW = 280


def created_event(row: dict, unread: int) -> dict:
    """The group event for one new notification: what the page needs to show it."""
    return {
        "type": "notification.created",
        "id": row["id"],
        "unread": unread,
        "priority": row["priority"],
        "kind": row["kind"],
        "title": row["title"],
        "body": row["body"][:BODY_PREVIEW],
        "url": row["url"],
    }


def push_notifications(notification_ids: Iterable[int]) -> int:
    """Push the toast-worthy ones of these notifications to their recipients' open pages.

    At-least-once: a repeat pushes again, and the page ignores an id it already shows.
    Returns the number of events sent.
    """
    rows = list(
        Notification.objects.filter(
            pk__any_of=notification_ids,
            in_app=True,
            silenced=Silenced.NO,
            is_read=False,
            dismissed_at__isnull=True,
        )
        .order_by("id")
        .values("id", "recipient_id", "priority", "kind", "title", "body", "url")
    )
    counts = unread_counts((row["recipient_id"] for row in rows), store=False)
    live.publish(
        [(row["recipient_id"], created_event(row, counts[row["recipient_id"]])) for row in rows]
    )
    return len(rows)


def push_badges(user_ids: Iterable[int]) -> None:
    """Refresh the badge on every open page of these users (after a read-state change)."""
    counts = unread_counts(user_ids, store=False)
    live.publish(
        [(user_id, {"type": "unread.changed", "unread": count}) for user_id, count in counts.items()]
    )
