"""In-app push: group events to ``user.<id>`` that the NotificationConsumer turns into fragments.

channels-redis's ``group_send`` costs four Redis round trips and its Python overhead per call
(about 0.5 ms here: 10,000 recipients one by one take seconds). On that layer a fan-out is sent
in batches instead: one script call reads the members of a thousand groups, and another
stores the messages for all their channels, in the layer's own storage format (the messages are
made by the layer's ``_map_channel_keys_to_connection``, so consumers read them unchanged). Any
other layer (in-memory, embedded) gets plain ``group_send`` calls from one event loop.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Iterable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from notifications import outbox
from notifications.bulk import ids_in
from notifications.groups import user_group
from notifications.models import Channel, Notification, Silenced
from notifications.selectors import unread_counts

# Layers without batching: sends in flight at once, enough to hide round trips.
CONCURRENCY = 64
BODY_PREVIEW = 280


BATCH = 2500

# The body of channels-redis's group_send script, for many channel keys at once, each first
# cleared of expired messages (the pipeline step of group_send).
_SEND_BATCH_LUA = """
local now = tonumber(ARGV[#ARGV - 1])
local expiry = tonumber(ARGV[#ARGV])
local count = #KEYS
local over_capacity = 0
for i = 1, count do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], 0, math.floor(now) - expiry)
  if redis.call('ZCOUNT', KEYS[i], '-inf', '+inf') < tonumber(ARGV[i + count]) then
    -- Scores grow with the position, so one channel receives its messages in send order.
    redis.call('ZADD', KEYS[i], now + i * 0.00001, ARGV[i])
    redis.call('EXPIRE', KEYS[i], expiry)
  else
    over_capacity = over_capacity + 1
  end
end
return over_capacity
"""


# The first two steps of group_send for many groups: drop expired members, list the rest.
_GROUP_MEMBERS_LUA = """
local members = {}
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, 0, tonumber(ARGV[1]))
  members[i] = redis.call('ZRANGE', key, 0, -1)
end
return members
"""


def _batches_redis_layer(layer) -> bool:
    try:
        from channels_redis.core import RedisChannelLayer
    except ImportError:
        return False
    return isinstance(layer, RedisChannelLayer) and hasattr(
        layer, "_map_channel_keys_to_connection"
    )


async def _redis_send_batch(layer, messages: list[tuple[str, dict]]) -> int:
    """group_send for many groups in a few round trips; returns channels over capacity."""
    now = time.time()
    by_host: dict[int, list[tuple[str, dict]]] = defaultdict(list)
    for group, event in messages:
        assert layer.require_valid_group_name(group), "Group name not valid"
        by_host[layer.consistent_hash(group)].append((group, event))
    # Per host of the channel keys: keys, serialized messages, capacities.
    targets: dict[int, tuple[list, list, list]] = defaultdict(lambda: ([], [], []))
    for host, items in by_host.items():
        members_script = layer.connection(host).register_script(_GROUP_MEMBERS_LUA)
        replies = await members_script(
            keys=[layer._group_key(group) for group, _ in items],
            args=[int(now) - layer.group_expiry],
        )
        for (group, event), members in zip(items, replies):
            if not members:
                continue
            names = [member.decode("utf8") for member in members]
            keys_by_host, payloads, capacities = layer._map_channel_keys_to_connection(
                names, event
            )
            for channel_host, keys in keys_by_host.items():
                all_keys, all_payloads, all_capacities = targets[channel_host]
                for key in keys:
                    all_keys.append(key)
                    all_payloads.append(payloads[key])
                    all_capacities.append(capacities[key])
    over_capacity = 0
    for host, (keys, payloads, capacities) in targets.items():
        if keys:
            script = layer.connection(host).register_script(_SEND_BATCH_LUA)
            over_capacity += await script(
                keys=keys, args=[*payloads, *capacities, now, int(layer.expiry)]
            )
    return over_capacity


def group_send_many(messages: list[tuple[str, dict]]) -> None:
    """Send each (group, event) through the channel layer, from sync code, in one event loop."""
    if not messages:
        return
    layer = get_channel_layer()

    async def send_all():
        if _batches_redis_layer(layer):
            for start in range(0, len(messages), BATCH):
                await _redis_send_batch(layer, messages[start : start + BATCH])
            return
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
            pk__in=ids_in(notification_ids),
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
