"""Channel-layer listening for subscriptions, on Strawberry's Channels consumer.

A user's own events (``notification.created``, ``unread.changed``) come through
``notifications.live`` like the pages' toasts: the socket is attached to the user while at
least one of its subscriptions listens (``user_id=``), and ``live`` hands each event to the
consumer's ``dispatch``, which fills the queues below.

``listen`` is ``ChannelsConsumer.listen_to_channel`` for several message types into one queue,
so that events of different types come out in the order the socket received them (the unread
count is carried by both ``notification.created`` and ``unread.changed``, and the last one must
win). Group membership goes through ``listen_to_channel`` itself (it counts the subscriptions
of one socket per group and leaves a group with the last); the queue is registered in the
consumer's ``listen_queues``, which its ``dispatch`` fills. ``tests/graphql/test_listen.py``
holds that contract against the pinned strawberry-graphql.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Sequence

from notifications import live

# A type no sender uses: listen_to_channel is entered only for its group bookkeeping.
_GROUPS_ONLY = "graphql.groups-only"


@contextlib.asynccontextmanager
async def listen(
    consumer, *, types: Sequence[str], groups: Sequence[str] = (), user_id: int | None = None
):
    """Join ``groups`` (and ``user_id``'s live events) and yield an async iterator over
    messages of ``types``, in arrival order.

    Messages that arrive while the caller is busy (a replay from the database) wait in the
    queue: nothing between joining and reading is lost.
    """
    queue: asyncio.Queue = asyncio.Queue()
    for type_ in types:
        consumer.listen_queues[type_].add(queue)
    if user_id is not None:
        await _attach(consumer, user_id)
    try:
        async with consumer.listen_to_channel(_GROUPS_ONLY, groups=groups):

            async def messages() -> AsyncIterator[dict]:
                while True:
                    yield await queue.get()

            yield messages()
    finally:
        for type_ in types:
            consumer.listen_queues[type_].discard(queue)
        if user_id is not None:
            _detach(consumer, user_id)


async def _attach(consumer, user_id: int) -> None:
    refs = consumer.__dict__.setdefault("_live_refs", Counter())
    if not refs[user_id]:
        await live.attach(user_id, consumer)
    refs[user_id] += 1


def _detach(consumer, user_id: int) -> None:
    refs = consumer.__dict__.setdefault("_live_refs", Counter())
    refs[user_id] -= 1
    if refs[user_id] <= 0:
        del refs[user_id]
        live.detach(user_id, consumer)
