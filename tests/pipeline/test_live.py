"""notifications.realtime.live: a fan-out's events reach every attached socket of each user, once.

Against each real layer: the configured Redis pub/sub layer, channels-redis's list-based layer
and the embedded in-memory one, so whichever a deployment picks carries the same events.
"""

import asyncio

import pytest
from channels.layers import InMemoryChannelLayer
from channels_redis.core import RedisChannelLayer
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.conf import settings

from notifications.realtime import live


class Page:
    """Stands in for a consumer: records what ``dispatch`` is given."""

    def __init__(self):
        self.received = []
        self.arrived = asyncio.Event()

    async def dispatch(self, event):
        self.received.append(event)
        self.arrived.set()


@pytest.fixture(params=[
    pytest.param("pubsub", marks=pytest.mark.services),
    pytest.param("core", marks=pytest.mark.services),
    "memory",
])
def layer(request, monkeypatch):
    made = {
        "pubsub": lambda: RedisPubSubChannelLayer(hosts=[settings.REDIS_URL], prefix="t-live"),
        "core": lambda: RedisChannelLayer(hosts=[settings.REDIS_URL], prefix="t-live"),
        "memory": InMemoryChannelLayer,
    }[request.param]()
    monkeypatch.setattr(live, "get_channel_layer", lambda: made)
    return made


async def settle(pages, count):
    for _ in range(100):
        if sum(len(page.received) for page in pages) >= count:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)  # anything extra (a duplicate) would arrive by now


async def test_each_user_gets_their_events_on_every_open_page_and_nobody_elses(layer):
    alice_tab_1, alice_tab_2, bob = Page(), Page(), Page()
    await live.attach(1, alice_tab_1)
    await live.attach(1, alice_tab_2)
    await live.attach(2, bob)
    await live.publish_async([
        (1, {"type": "notification.created", "id": 11, "unread": 1}),
        (2, {"type": "notification.created", "id": 12, "unread": 5}),
        (3, {"type": "notification.created", "id": 13, "unread": 1}),  # no page open
        (1, {"type": "unread.changed", "unread": 0}),
    ])
    await settle([alice_tab_1, alice_tab_2, bob], 5)
    for tab in (alice_tab_1, alice_tab_2):
        assert [(e["type"], e.get("id")) for e in tab.received] == [
            ("notification.created", 11), ("unread.changed", None)
        ]
    assert bob.received == [{"type": "notification.created", "id": 12, "unread": 5}]


async def test_a_fan_out_larger_than_a_chunk_arrives_whole_and_in_order(layer):
    pages = {user_id: Page() for user_id in range(50)}
    for user_id, page in pages.items():
        await live.attach(user_id, page)
    events = [
        (user_id, {"type": "notification.created", "id": 1000 * user_id + n, "unread": n})
        for n in range(3) for user_id in pages
    ]
    await live.publish_async(events)  # CHUNK is 2000: this is one message; below, several
    original_chunk = live.CHUNK
    live.CHUNK = 7
    try:
        await live.publish_async([(user_id, {"type": "x", "id": user_id}) for user_id in pages])
    finally:
        live.CHUNK = original_chunk
    await settle(list(pages.values()), 4 * len(pages))
    for user_id, page in pages.items():
        assert [e["id"] for e in page.received] == [
            1000 * user_id, 1000 * user_id + 1, 1000 * user_id + 2, user_id
        ]


async def test_a_detached_page_gets_nothing_more(layer):
    page, other = Page(), Page()
    await live.attach(7, page)
    await live.attach(8, other)
    assert live.open_sockets() == 2
    live.detach(7, page)
    assert live.open_sockets() == 1
    await live.publish_async([(7, {"type": "x"}), (8, {"type": "x"})])
    await asyncio.wait_for(other.arrived.wait(), 5)
    await asyncio.sleep(0.2)
    assert page.received == []


async def test_a_page_that_raises_does_not_stop_delivery_to_the_others(layer):
    class Broken(Page):
        async def dispatch(self, event):
            raise RuntimeError("socket already gone")

    healthy = Page()
    await live.attach(1, Broken())
    await live.attach(1, healthy)
    await live.publish_async([(1, {"type": "x", "id": 1})])
    await asyncio.wait_for(healthy.arrived.wait(), 5)
    assert healthy.received == [{"type": "x", "id": 1}]


async def test_announcements_made_together_reach_every_page_in_one_message(layer):
    pages = {user_id: Page() for user_id in (1, 2, 3)}
    for user_id, page in pages.items():
        await live.attach(user_id, page)
    observer = await layer.new_channel()  # a second web process, counting what it is sent
    await layer.group_add(live.FANOUT_GROUP, observer)

    for user_id in pages:
        live.announce(user_id, {"type": "socket.opened", "socket": f"page-{user_id}"})

    await settle(list(pages.values()), len(pages))
    for user_id, page in pages.items():
        assert page.received == [{"type": "socket.opened", "socket": f"page-{user_id}"}]
    message = await asyncio.wait_for(layer.receive(observer), 5)
    assert [user_id for user_id, _ in message["events"]] == [1, 2, 3]
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(layer.receive(observer), 0.3)
    await layer.group_discard(live.FANOUT_GROUP, observer)


@pytest.mark.services
def test_services_mode_uses_the_pubsub_layer_for_live_events():
    from channels.layers import get_channel_layer

    assert isinstance(get_channel_layer(), RedisPubSubChannelLayer)
