"""The notification socket: HTML fragments for htmx's ws extension, swapped with hx-swap-oob.

Client → server (JSON; htmx adds its form values and a ``HEADERS`` object):
    {"action": "catch_up", "last_id": N}  → everything after N, then the badge.
The same catch-up runs on connect when the URL has ``?last_id=N``.
Server → client: ``notifications/_pushed.html`` (toasts, urgent banners, the badge), or the badge
alone after a read-state change.
"""

import json
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.template.loader import render_to_string

from notifications import selectors
from notifications.groups import user_group
from notifications.models import Silenced
from operations import metrics

# Close codes in the 4000-4999 range are ours: 4401 = not logged in (the page does not retry).
CLOSE_UNAUTHENTICATED = 4401


def _last_id(value) -> int | None:
    try:
        last_id = int(value)
    except (TypeError, ValueError):
        return None
    return last_id if last_id >= 0 else None


async def refused_anonymous(consumer: AsyncWebsocketConsumer) -> bool:
    """Close a socket that has no logged-in user with 4401; True when it was closed.

    Accept first: a close before accept is an HTTP 403 and the browser never sees the code.
    """
    user = consumer.scope.get("user")
    if user is not None and user.is_authenticated:
        return False
    await consumer.accept()
    await consumer.close(code=CLOSE_UNAUTHENTICATED)
    return True


def render_pushed(notifications: list, unread: int, more: int = 0) -> str:
    return render_to_string(
        "notifications/_pushed.html",
        {"notifications": notifications, "unread": unread, "more": more},
    )


class NotificationConsumer(AsyncWebsocketConsumer):
    """One socket per open page of a logged-in user, joined to the group ``user.<id>``."""

    async def connect(self):
        if await refused_anonymous(self):
            return
        user = self.user = self.scope["user"]
        self.group_name = user_group(user.pk)
        await self.channel_layer.group_add(self.group_name, self.channel_name)
        await self.accept()
        metrics.socket_connected(self)
        query = parse_qs(self.scope.get("query_string", b"").decode())
        last_id = _last_id((query.get("last_id") or [None])[0])
        if last_id is not None:
            await self.catch_up(last_id)

    async def disconnect(self, code):
        metrics.socket_disconnected(self, code)
        group_name = getattr(self, "group_name", None)
        if group_name:
            await self.channel_layer.group_discard(group_name, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        if not hasattr(self, "user") or not text_data:
            return
        try:
            message = json.loads(text_data)
        except ValueError:
            return  # Not ours to answer: a malformed frame is ignored, the socket stays open.
        if not isinstance(message, dict):
            return
        if message.get("action") == "catch_up":
            last_id = _last_id(message.get("last_id"))
            if last_id is not None:
                await self.catch_up(last_id)

    async def catch_up(self, last_id: int):
        missed, unread, more = await self._missed(last_id)
        # Rows stored silently (quiet hours, rate limit) count in the badge but make no toast.
        await self.send(text_data=render_pushed(missed, unread, more))

    @database_sync_to_async
    def _missed(self, last_id: int):
        batch = selectors.notifications_after(user=self.user, last_id=last_id)
        missed = [
            notification
            for notification in batch
            if notification.silenced == Silenced.NO and not notification.is_read
        ]
        more = selectors.notifications_beyond_catch_up(user=self.user, last_id=last_id, batch=batch)
        return missed, selectors.unread_count(user=self.user), more

    async def notification_created(self, event):
        await self.send(text_data=render_pushed([event], event["unread"]))

    async def unread_changed(self, event):
        await self.send(
            text_data=render_to_string(
                "notifications/_badge.html", {"unread": event["unread"], "oob": True}
            )
        )
