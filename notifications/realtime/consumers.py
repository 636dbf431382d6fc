"""The notification socket: HTML fragments for htmx's ws extension, swapped with hx-swap-oob.

Client → server (JSON; htmx adds its form values and a ``HEADERS`` object):
    {"action": "catch_up", "last_id": N}  → everything after N, then the badge.
The same catch-up runs on connect when the URL has ``?last_id=N``. Anything else closes the
socket (1003 unknown action, 1007 not a JSON object); limits and login checks are
``config.socket_guard``'s.
Server → client: ``notifications/_pushed.html`` (toasts, urgent banners, the badge), or the badge
alone after a read-state change.

A fan-out reaches thousands of sockets of one process at once, so the push path does no database
query and no template render per socket: a notification's toast is rendered once per process
(``pushed_fragment``) and only its id and the recipient's badge count differ per socket.
"""

import json
import logging
import time
import uuid
from functools import lru_cache
from urllib.parse import parse_qs

from channels.generic.websocket import AsyncWebsocketConsumer
from channels.consumer import get_handler_name
from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone

from config.socket_guard import CLOSE_INVALID_PAYLOAD, CLOSE_UNSUPPORTED_DATA, GuardedSocketMixin
from config.websocket_auth import in_db_pool
from notifications import selectors
from notifications.models import Silenced
from notifications.realtime import live
from operations import metrics

logger = logging.getLogger(__name__)

# Close codes in the 4000-4999 range are ours; herald.js knows each one.
CLOSE_UNAUTHENTICATED = 4401  # not logged in: the page does not retry
CLOSE_TOO_MANY_SOCKETS = 4429  # this user opened more pages than allowed: the oldest is closed
CLOSE_TRY_AGAIN = 4503  # the channel layer is unavailable: reconnect with backoff, then catch up

LAYER_ERRORS = live.LAYER_ERRORS

ID_PLACEHOLDER = "__notification_id__"


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


@lru_cache(maxsize=256)
def _toast_template(priority: str, kind: str, title: str, body: str, url: str) -> str:
    """A toast (or urgent banner) with a placeholder for the recipient's notification id."""
    notification = {
        "id": ID_PLACEHOLDER, "priority": priority, "kind": kind, "title": title,
        "body": body, "url": url,
    }
    name = "_banner.html" if priority == "urgent" else "_toast.html"
    return render_to_string(f"notifications/{name}", {"notification": notification})


@lru_cache(maxsize=1024)
def badge_fragment(unread: int) -> str:
    return render_to_string("notifications/_badge.html", {"unread": unread, "oob": True})


def pushed_fragment(event: dict) -> str:
    """What ``render_pushed([event], event["unread"])`` renders, from per-process caches."""
    toast = _toast_template(
        event.get("priority", "normal"), event.get("kind", ""), event.get("title", ""),
        event.get("body", ""), event.get("url", ""),
    )
    return toast.replace(ID_PLACEHOLDER, str(int(event["id"]))) + "\n" + badge_fragment(
        int(event["unread"])
    )


class NotificationConsumer(GuardedSocketMixin, AsyncWebsocketConsumer):
    """One socket per open page of a logged-in user, attached to the user's live events.

    It has no channel of its own (``channel_layer_alias = None``): everything it is sent comes
    through ``notifications.realtime.live``, so opening a socket costs no Redis subscription and
    works while Redis is briefly away. The pages of one user tell each other when they open and
    close (``socket.opened`` / ``socket.closed``, sent to the user like any live event), so each
    one knows how many newer pages the user has on any web process: past
    ``WEBSOCKET_MAX_PER_USER`` the oldest closes itself with 4429.
    """

    channel_layer_alias = None
    attached = False
    # The newest notification id this socket has sent, and the one it surely had when the live
    # subscription last worked (see notifications.realtime.live): a resume catches up from the
    # latter.
    last_id = 0
    safe_id = 0

    async def __call__(self, scope, receive, send):
        try:
            await super().__call__(scope, receive, send)
        finally:
            # daphne cancels the application of a handshake that timed out or a socket it
            # dropped without a websocket.disconnect: never leave it attached to live events.
            if self.attached:
                self.attached = False
                live.detach(self.user.pk, self)

    async def dispatch(self, message):
        # Channels' dispatch runs close_old_connections on its one sync thread before every
        # handler: a thread hop per connect, disconnect and frame, all queued on that thread in
        # a reconnect storm (and a fan-out hands out thousands of live events at once). This
        # consumer never touches the database on that thread: its reads run through
        # ``in_db_pool`` and ``database_sync_to_async``, which close their own connections.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self):
        if await refused_anonymous(self):
            return
        user = self.user = self.scope["user"]
        self.opened = (time.time(), uuid.uuid4().hex)
        self.connected_at = timezone.now()
        self.newer_pages: set[str] = set()
        try:
            await live.attach(user.pk, self)
        except LAYER_ERRORS:
            logger.warning("Socket of user %s refused: channel layer unavailable", user.pk,
                           exc_info=True)
            await self.accept()
            await self.close(code=CLOSE_TRY_AGAIN)
            return
        self.attached = True
        await self.accept()
        metrics.socket_connected(self)
        self._tell_pages("socket.opened")
        query = parse_qs(self.scope.get("query_string", b"").decode())
        last_id = _last_id((query.get("last_id") or [None])[0])
        if last_id is not None:
            await self.catch_up(last_id)

    async def disconnect(self, code):
        metrics.socket_disconnected(self, code)
        if self.attached:
            self.attached = False
            live.detach(self.user.pk, self)
            self._tell_pages("socket.closed")

    def _tell_pages(self, event_type: str) -> None:
        """Best effort: a lost hello only lets a user keep one page more than allowed."""
        opened_at, socket_id = self.opened
        live.announce(
            self.user.pk, {"type": event_type, "opened_at": opened_at, "socket": socket_id}
        )

    async def socket_opened(self, event):
        other = (event["opened_at"], event["socket"])
        if other <= self.opened:
            return  # itself, or an older page (which counts this one)
        self.newer_pages.add(other[1])
        if len(self.newer_pages) >= settings.WEBSOCKET_MAX_PER_USER and self.attached:
            logger.info("Closing the oldest page of user %s: %d newer pages open",
                        self.user.pk, len(self.newer_pages))
            await self.close(code=CLOSE_TOO_MANY_SOCKETS)
            await self.disconnect(CLOSE_TOO_MANY_SOCKETS)

    async def socket_closed(self, event):
        self.newer_pages.discard(event["socket"])

    async def receive(self, text_data=None, bytes_data=None):
        if not self.attached or not text_data:
            return
        try:
            message = json.loads(text_data)
        except (ValueError, RecursionError):  # nesting deep enough exhausts the parser's stack
            return await self.guard_close(CLOSE_INVALID_PAYLOAD, "frame is not JSON")
        if not isinstance(message, dict):
            return await self.guard_close(CLOSE_INVALID_PAYLOAD, "frame is not a JSON object")
        if message.get("action") != "catch_up":
            return await self.guard_close(CLOSE_UNSUPPORTED_DATA, "unknown action")
        last_id = _last_id(message.get("last_id"))
        if last_id is None:
            return await self.guard_close(CLOSE_INVALID_PAYLOAD, "catch_up without a valid last_id")
        await self.catch_up(last_id)

    async def catch_up(self, last_id: int):
        missed, unread, more = await self._missed(last_id)
        self._sent_up_to(max([last_id, *(notification.pk for notification in missed)]))
        # Rows stored silently (quiet hours, rate limit) count in the badge but make no toast.
        await self.send(text_data=render_pushed(missed, unread, more))

    def _sent_up_to(self, notification_id: int) -> None:
        self.last_id = max(self.last_id, notification_id)

    def checkpoint(self) -> None:
        self.safe_id = self.last_id

    async def resume(self) -> None:
        """After the live subscription was interrupted: send what may have been missed."""
        await self.catch_up(self.safe_id or await self._newest_id_before_connect())

    @in_db_pool
    def _newest_id_before_connect(self) -> int:
        # Nothing sent yet: the page showed what existed when it connected.
        return selectors.newest_notification_id(user=self.user, before=self.connected_at)

    @in_db_pool
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
        self._sent_up_to(int(event.get("id") or 0))
        await self.send(text_data=pushed_fragment(event))

    async def unread_changed(self, event):
        await self.send(text_data=badge_fragment(int(event["unread"])))
