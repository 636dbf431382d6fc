"""Channel-layer and live-event listening for subscriptions, on Strawberry's Channels consumer.

``listen`` gathers messages of several types into one queue, so that events of different types
come out in the order the socket received them (the unread count is carried by both
``notification.created`` and ``unread.changed``, and the last one must win). Two sources fill
it, both through the consumer's ``dispatch``:

- a user's live events (``notifications.realtime.live``: one fan-out message per web process,
  handed to the sockets its user has open there), when ``user_id`` is given: the socket is
  attached to the user while at least one of its subscriptions needs it;
- channel-layer groups (``event.<id>``, ``leaderboard``), joined through Strawberry's
  ``listen_to_channel``, which counts the subscriptions of one socket per group and leaves a
  group with the last.

The queue is registered in the consumer's ``listen_queues``, which its ``dispatch`` fills.
``tests/graphql/test_listen.py`` holds that contract against the pinned strawberry-graphql.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence

# A type no sender uses: listen_to_channel is entered only for its group bookkeeping.
_GROUPS_ONLY = "graphql.groups-only"
# Put into the queues of a socket's user subscriptions after the live events were interrupted
# (see notifications.realtime.live): each then catches up from the database.
RESUME = "graphql.resume"


@contextlib.asynccontextmanager
async def listen(
    consumer, *, types: Sequence[str], groups: Sequence[str] = (), user_id: int | None = None
):
    """Yield an async iterator over messages of ``types``, in arrival order, from ``user_id``'s
    live events and from ``groups``.

    Messages that arrive while the caller is busy (a replay from the database) wait in the
    queue: nothing between joining and reading is lost.
    """
    queue: asyncio.Queue = asyncio.Queue()
    for type_ in types:
        consumer.listen_queues[type_].add(queue)
    try:
        async with contextlib.AsyncExitStack() as stack:
            if user_id is not None:
                await consumer.attach_user(user_id)
                stack.callback(consumer.detach_user, user_id)
            if groups:
                await stack.enter_async_context(
                    consumer.listen_to_channel(_GROUPS_ONLY, groups=groups)
                )

            async def messages() -> AsyncIterator[dict]:
                while True:
                    yield await queue.get()

            yield messages()
    finally:
        for type_ in types:
            consumer.listen_queues[type_].discard(queue)
