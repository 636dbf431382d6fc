"""In-app push: group events to ``user.<id>`` that the NotificationConsumer turns into fragments.

channels-redis pays a few Redis round trips per ``group_send``; a fan-out sends all of its events
from one event loop, many in flight at once, instead of one blocking call per recipient.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from notifications import outbox
from notifications.groups import user_group
from notifications.models import Channel, Notification, Silenced
from notifications.selectors import unread_counts

# Sends in flight at once: enough to hide round trips, few enough for the connection pool.
CONCURRENCY = 64
BODY_PREVIEW = 280


def group_send_many(messages: list[tuple[str, dict]]) -> None:
    """Send each (group, event) through the channel layer, concurrently, from sync code."""
    if not messages:
        return
    layer = get_channel_layer()

    async def send_all():
        semaphore = asyncio.Semaphore(CONCURRENCY)

        async def send(group, event):
            async with semaphore:
                await layer.group_send(group, event)

        await asyncio.gather(*(send(group, event) for group, event in messages))

    async_to_sync(send_all)()


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
            pk__in=list(notification_ids),
            in_app=True,
            silenced=Silenced.NO,
            is_read=False,
            dismissed_at__isnull=True,
        )
        .order_by("id")
        .values("id", "recipient_id", "priority", "kind", "title", "body", "url")
    )
    counts = unread_counts((row["recipient_id"] for row in rows), store=False)
    group_send_many(
        [
            (user_group(row["recipient_id"]), created_event(row, counts[row["recipient_id"]]))
            for row in rows
        ]
    )
    if outbox.is_enabled():
        for row in rows:
            outbox.record(
                channel=Channel.IN_APP,
                user_id=row["recipient_id"],
                kind=row["kind"],
                notification_id=row["id"],
                payload={"title": row["title"], "unread": counts[row["recipient_id"]]},
            )
    return len(rows)


def push_badges(user_ids: Iterable[int]) -> None:
    """Refresh the badge on every open page of these users (after a read-state change)."""
    counts = unread_counts(user_ids, store=False)
    group_send_many(
        [
            (user_group(user_id), {"type": "unread.changed", "unread": count})
            for user_id, count in counts.items()
        ]
    )
