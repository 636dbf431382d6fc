"""The batched group send against the real channels-redis layer: same result as group_send."""

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from notifications.push import group_send_many


async def _receive(layer, channel):
    return await layer.receive(channel)


def test_batched_send_reaches_every_channel_of_every_group_like_group_send():
    layer = get_channel_layer()
    assert layer.__class__.__name__ == "RedisChannelLayer"

    async def setup():
        # Two tabs of user 1 in one server process (process-local names share a Redis key),
        # one tab of user 2 elsewhere, and user 3 with no open page.
        tab_a = await layer.new_channel()
        tab_b = await layer.new_channel()
        other = "elsewhere.page-2"
        await layer.group_add("user.1", tab_a)
        await layer.group_add("user.1", tab_b)
        await layer.group_add("user.2", other)
        return tab_a, tab_b, other

    tab_a, tab_b, other = async_to_sync(setup)()

    group_send_many(
        [
            ("user.1", {"type": "notification.created", "id": 11, "unread": 1}),
            ("user.2", {"type": "notification.created", "id": 12, "unread": 5}),
            ("user.3", {"type": "notification.created", "id": 13, "unread": 1}),
            ("user.1", {"type": "unread.changed", "unread": 0}),
        ]
    )

    async def drain():
        received = {}
        for channel, count in ((tab_a, 2), (tab_b, 2), (other, 1)):
            received[channel] = [await layer.receive(channel) for _ in range(count)]
        return received

    received = async_to_sync(drain)()
    for tab in (tab_a, tab_b):
        assert [m["type"] for m in received[tab]] == ["notification.created", "unread.changed"]
        assert received[tab][0]["id"] == 11
    assert received[other] == [{"type": "notification.created", "id": 12, "unread": 5}]


def test_batched_send_refuses_an_invalid_group_name():
    with pytest.raises(Exception, match="Group name"):
        group_send_many([("not a valid group!", {"type": "x"})])
