"""Limits and session checks every WebSocket consumer shares (``GuardedSocketMixin``).

- A socket lives only as long as the login it was opened with. Logging out announces the end of
  that session, any save of the user (password change, deactivation) asks the user's sockets to
  check: through a group per session and one per user for consumers with a channel of their
  own, and through ``notifications.realtime.live`` (the user's live events) for the notification
  socket, which has none. Every socket then checks that its
  session still exists, still names this user, still carries the user's current password hash
  and that the user is active; if not it closes with 4401. The same check also runs every
  ``SOCKET_AUTH_RECHECK_SECONDS`` for what no signal announces (an expired or deleted session).
- Frames: larger than ``SOCKET_MAX_FRAME_BYTES`` close with 1009, binary frames with 1003, more
  than ``SOCKET_RATE_LIMIT_MESSAGES`` per ``SOCKET_RATE_LIMIT_WINDOW_SECONDS`` with 1008; each
  closing is logged with the user and the reason.
- A handshake from a foreign Origin is refused and logged (``LoggingOriginValidator``).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import time
from functools import partial

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.security.websocket import OriginValidator
from django.conf import settings
from django.db import transaction

from config.websocket_auth import user_for_session
from notifications.realtime import live

logger = logging.getLogger(__name__)

CLOSE_UNSUPPORTED_DATA = 1003
CLOSE_INVALID_PAYLOAD = 1007
CLOSE_POLICY_VIOLATION = 1008
CLOSE_MESSAGE_TOO_BIG = 1009
CLOSE_UNAUTHENTICATED = 4401
# A password change saves the user before it re-signs the session that made it: wait this long
# before checking, so that session's own sockets see the new hash and stay open.
AUTH_CHECK_DELAY_SECONDS = 1.0


def session_group(session_key: str) -> str:
    # The key itself never leaves the session store: the group is named by a hash of it.
    return "auth.session." + hashlib.sha256(session_key.encode()).hexdigest()[:40]


def user_auth_group(user_id: int) -> str:
    return f"auth.user.{user_id}"


def _announce(*, user_id: int, group: str, event: dict) -> None:
    async def send():
        await get_channel_layer().group_send(group, event)
        await live.publish_async([(user_id, event)])

    try:
        async_to_sync(send)()
    except Exception:
        # The periodic check closes the sockets later; the logout itself must not fail.
        logger.warning("Could not tell the sockets of user %s (%s)", user_id, event["type"],
                       exc_info=True)


def sockets_end_session(*, user_id: int, session_key: str | None) -> None:
    """Close every socket opened with this session (after commit)."""
    if session_key:
        group = session_group(session_key)
        event = {"type": "auth.ended", "session": group}
        transaction.on_commit(partial(_announce, user_id=user_id, group=group, event=event))


def sockets_recheck_user(*, user_id: int) -> None:
    """Make every socket of this user check its session again (after commit)."""
    group, event = user_auth_group(user_id), {"type": "auth.check"}
    transaction.on_commit(partial(_announce, user_id=user_id, group=group, event=event))


def session_still_valid(session_key: str | None, user_id: int) -> bool:
    """The session still logs this user in (exists, is theirs, carries their current password
    hash, the user is active): what Django checks on every request, for a socket opened long
    ago."""
    user = user_for_session(session_key)
    return user is not None and user.pk == user_id


class GuardedSocketMixin:
    """Mix into an ``AsyncWebsocketConsumer`` before it; its own ``connect``, ``receive`` and
    ``disconnect`` stay as they are."""

    _guarded = False

    async def websocket_connect(self, message):
        await super().websocket_connect(message)
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            return
        self._guard_user_id = user.pk
        self._guard_session_key = self.scope.get("session_key")
        self._guard_session_group = session_group(self._guard_session_key or "")
        self._guard_window = (time.monotonic(), 0)
        # A consumer without a channel of its own hears these through notifications.realtime.live.
        self._guard_groups = []
        if self.channel_layer is not None:
            self._guard_groups = [user_auth_group(user.pk), self._guard_session_group]
        for group in self._guard_groups:
            await self.channel_layer.group_add(group, self.channel_name)
        self._guarded = True
        self._guard_task = asyncio.create_task(self._recheck_periodically())

    async def websocket_disconnect(self, message):
        if self._guarded:
            self._guarded = False
            self._guard_task.cancel()
            for group in self._guard_groups:
                await self.channel_layer.group_discard(group, self.channel_name)
        await super().websocket_disconnect(message)

    async def websocket_receive(self, message):
        if not self._guarded:
            return
        text, data = message.get("text"), message.get("bytes")
        if data is not None and text is None:
            return await self.guard_close(CLOSE_UNSUPPORTED_DATA, "binary frame")
        size = len(text.encode()) if text is not None else 0
        if size > settings.SOCKET_MAX_FRAME_BYTES:
            return await self.guard_close(CLOSE_MESSAGE_TOO_BIG, f"frame of {size} bytes")
        if self._over_rate_limit():
            return await self.guard_close(CLOSE_POLICY_VIOLATION, "message rate limit")
        await super().websocket_receive(message)

    def _over_rate_limit(self) -> bool:
        started, count = self._guard_window
        now = time.monotonic()
        if now - started >= settings.SOCKET_RATE_LIMIT_WINDOW_SECONDS:
            started, count = now, 0
        count += 1
        self._guard_window = (started, count)
        return count > settings.SOCKET_RATE_LIMIT_MESSAGES

    async def guard_close(self, code: int, reason: str) -> None:
        """Close this socket with ``code`` and log why (a misbehaving or hostile client)."""
        logger.warning(
            "Closing socket %s of user %s with %s: %s",
            self.scope.get("path"), getattr(self, "_guard_user_id", None), code, reason,
        )
        await self.close(code=code)

    async def auth_ended(self, event):
        if self._guarded and event.get("session") == self._guard_session_group:
            await self.guard_close(CLOSE_UNAUTHENTICATED, "logged out")

    async def auth_check(self, event):
        # In a task: the socket keeps relaying notifications meanwhile.
        asyncio.create_task(self._check_after(AUTH_CHECK_DELAY_SECONDS))

    async def _check_after(self, delay: float) -> None:
        await asyncio.sleep(delay)
        if self._guarded:
            await self._close_unless_session_valid()

    async def _close_unless_session_valid(self) -> bool:
        valid = await database_sync_to_async(session_still_valid)(
            self._guard_session_key, self._guard_user_id
        )
        if not valid and self._guarded:
            await self.guard_close(CLOSE_UNAUTHENTICATED, "session no longer valid")
        return valid

    async def _recheck_periodically(self):
        interval = settings.SOCKET_AUTH_RECHECK_SECONDS
        # Spread the checks of sockets opened together (a restart reconnects everyone at once).
        await asyncio.sleep(interval * random.uniform(0.5, 1.0))
        while self._guarded and await self._close_unless_session_valid():
            await asyncio.sleep(interval)


class LoggingOriginValidator(OriginValidator):
    """Channels' origin check against ``ALLOWED_HOSTS``, logging each refused handshake."""

    def __init__(self, application):
        allowed_hosts = settings.ALLOWED_HOSTS
        if settings.DEBUG and not allowed_hosts:
            allowed_hosts = ["localhost", "127.0.0.1", "[::1]"]  # as Django does in debug mode
        super().__init__(application, allowed_hosts)

    def valid_origin(self, parsed_origin):
        valid = super().valid_origin(parsed_origin)
        if not valid:
            logger.warning(
                "Refused a WebSocket handshake from origin %s",
                parsed_origin.geturl() if parsed_origin is not None else "(none)",
            )
        return valid
