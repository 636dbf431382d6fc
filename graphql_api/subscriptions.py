"""Subscriptions over ``graphql-transport-ws`` at ``/graphql/``.

Each rides what the pages already use: the user's live events
(``notifications.realtime.live``), and the channel-layer groups ``event.<id>``
(``events.live``) and ``leaderboard``. The group event carries everything a frame shows,
so a fan-out costs no query per subscriber; a subscription reads the database only when it
starts (the replay of what a reconnecting client missed, the current state). Those reads go
through ``database_sync_to_async``, which closes the connection afterwards like the other
consumers (a socket may stay open for hours).
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncGenerator

import strawberry
from channels.db import database_sync_to_async
from strawberry.types import Info

from events import live as event_live
from graphql_api import cursors
from graphql_api.context import viewer
from graphql_api.errors import bad_input, not_found
from graphql_api.listen import RESUME, listen
from graphql_api.types import EventUpdate, NotificationPushed, Standing
from leaderboard import live as leaderboard_live
from leaderboard import selectors as leaderboard_selectors
from notifications import selectors as notification_selectors
from notifications.models import Silenced
from notifications.realtime.push import created_event

REPLAY_BATCH = 100
# Ids already sent, remembered to drop a repeated push (pushes are at least once).
REMEMBERED_IDS = 1000


def _missed(user, after_id: int, limit: int) -> list[dict]:
    """Up to ``limit`` toast-worthy rows after ``after_id``, oldest first, as group events."""
    rows = list(
        notification_selectors.visible_notifications(user=user)
        .filter(pk__gt=after_id, silenced=Silenced.NO, is_read=False)
        .order_by("id")
        .values("id", "priority", "kind", "title", "body", "url")[:limit]
    )
    unread = notification_selectors.unread_count(user=user) if rows else 0
    return [created_event(row, unread) for row in rows]


async def _replay(user, after_id: int, sent: deque) -> AsyncGenerator[NotificationPushed, None]:
    """Every toast-worthy row after ``after_id`` not sent yet, oldest first, in batches."""
    while True:
        batch = await database_sync_to_async(_missed)(user, after_id, REPLAY_BATCH)
        for event in batch:
            if event["id"] not in sent:
                sent.append(event["id"])
                yield NotificationPushed.from_event(event)
        if len(batch) < REPLAY_BATCH:
            return
        after_id = batch[-1]["id"]


def _socket(info: Info):
    ws = info.context.ws
    if ws is None:
        raise bad_input("Subscriptions run over the WebSocket at /graphql/ (graphql-transport-ws).")
    return ws


@strawberry.type(description="The top of the board after a change.")
class LeaderboardUpdate:
    top: list[Standing]

    @strawberry.field(description="The viewer's rank now (one Redis read when asked for).")
    async def my_rank(self, info: Info) -> int | None:
        rank_for = database_sync_to_async(leaderboard_selectors.rank_for)
        return await rank_for(user_id=info.context.user.pk)


def _top_now() -> list[Standing]:
    return [Standing.of(row) for row in leaderboard_selectors.top()]


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="The viewer's new notifications as they arrive. With `after` (the cursor of "
        "the last one the client has), first every unread one it missed since, oldest first, "
        "then the live ones: a reconnecting client misses none and gets none twice. Rows stored "
        "silently (quiet hours, rate limit) only move the unread count."
    )
    async def notification_created(
        self, info: Info, after: str | None = None
    ) -> AsyncGenerator[NotificationPushed, None]:
        user = viewer(info)
        ws = _socket(info)
        last_seen = cursors.notification_id_of(after) if after else None
        sent: deque[int] = deque(maxlen=REMEMBERED_IDS)
        async with listen(
            ws, types=("notification.created", RESUME), user_id=user.pk
        ) as messages:
            # Attached first: whatever commits during the replay waits in the queue.
            if last_seen is None:
                anchor = await database_sync_to_async(
                    notification_selectors.latest_notification_id
                )(user=user)
            else:
                anchor = last_seen
                async for event in _replay(user, anchor, sent):
                    yield event
            async for event in messages:
                if event["type"] == RESUME:
                    # Live events were interrupted: what came since the newest one sent.
                    async for missed in _replay(user, max([anchor, *sent]), sent):
                        yield missed
                    continue
                if (last_seen is not None and event["id"] <= last_seen) or event["id"] in sent:
                    continue
                sent.append(event["id"])
                yield NotificationPushed.from_event(event)

    @strawberry.subscription(description="The badge number: now, then after every change.")
    async def unread_count(self, info: Info) -> AsyncGenerator[int, None]:
        user = viewer(info)
        ws = _socket(info)
        async with listen(
            ws, types=("notification.created", "unread.changed", RESUME), user_id=user.pk
        ) as messages:
            last = await database_sync_to_async(notification_selectors.unread_count)(user=user)
            yield last
            async for event in messages:
                if event["type"] == RESUME:
                    unread = await database_sync_to_async(notification_selectors.unread_count)(
                        user=user
                    )
                else:
                    unread = event["unread"]
                if unread != last:
                    last = unread
                    yield last

    @strawberry.subscription(
        description="An event's place, time, status and places left: now, then after every "
        "change. An unknown event id is refused (NOT_FOUND)."
    )
    async def event_updated(
        self, info: Info, event_id: strawberry.ID
    ) -> AsyncGenerator[EventUpdate, None]:
        viewer(info)
        ws = _socket(info)
        try:
            pk = int(event_id)
        except (TypeError, ValueError):
            raise not_found("event") from None
        # Every logged-in person may see every event (as on the pages): "may see" is "exists".
        if not 0 < pk < 2**63 or await database_sync_to_async(event_live.current_state)(pk) is None:
            raise not_found("event")
        async with ws.listen_to_channel(
            "event.changed", groups=[event_live.event_group(pk)]
        ) as messages:
            last = await database_sync_to_async(event_live.current_state)(pk)
            if last is None:
                raise not_found("event")
            yield EventUpdate.of(last)
            async for event in messages:
                state = event.get("state")
                if state is None:  # sent by a process without the data
                    state = await database_sync_to_async(event_live.current_state)(pk)
                if state is not None and state != last:
                    last = state
                    yield EventUpdate.of(state)

    @strawberry.subscription(description="The top of the leaderboard: now, then after changes "
                             "(at most about once a second).")
    async def leaderboard_changed(self, info: Info) -> AsyncGenerator[LeaderboardUpdate, None]:
        viewer(info)
        ws = _socket(info)
        async with ws.listen_to_channel(
            "leaderboard.changed", groups=[leaderboard_live.GROUP]
        ) as messages:
            yield LeaderboardUpdate(top=await database_sync_to_async(_top_now)())
            async for event in messages:
                standings = event.get("standings")
                if standings is None:  # a broadcast from a process without the data
                    top = await database_sync_to_async(_top_now)()
                else:
                    top = [Standing.of(row) for row in standings]
                yield LeaderboardUpdate(top=top)
