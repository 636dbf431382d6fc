"""The notification socket under Redis trouble and past the per-user page cap.

Each Redis test points the channel layer at a redis-server of its own and kills it; the
machine's shared Redis is never touched.
"""

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import transaction

from config.asgi import application
from notifications.realtime import live
from notifications.realtime.consumers import CLOSE_TOO_MANY_SOCKETS, CLOSE_TRY_AGAIN
from notifications.kinds import EVENT_UPDATED
from notifications.services import notify
from tests.realtime.conftest import session_cookies

pytestmark = pytest.mark.django_db(transaction=True)


def communicator(session_key: str) -> WebsocketCommunicator:
    headers = [(b"origin", b"http://127.0.0.1:8000"), (b"host", b"127.0.0.1:8000"),
               (b"cookie", f"sessionid={session_key}".encode())]
    return WebsocketCommunicator(application, "/ws/notifications/", headers=headers)


def layer_on(redis_url: str) -> dict:
    return {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [{"address": redis_url, "socket_connect_timeout": 1}]},
        }
    }


def notify_one(user_id: int, title: str) -> int:
    with transaction.atomic():
        result = notify(kind=EVENT_UPDATED, recipients=[user_id],
                        context={"event_title": title, "changes": ["place"]})
    return result.notification_ids[0]


async def wait_until(predicate, seconds: float = 10) -> None:
    for _ in range(int(seconds / 0.05)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached in time")


async def receive_until(page: WebsocketCommunicator, needle: str, seconds: float = 15) -> str:
    """Frames until one contains ``needle``; the socket must stay open meanwhile."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        output = await page.receive_output(timeout=deadline - asyncio.get_running_loop().time())
        assert output["type"] == "websocket.send", output
        if needle in output["text"]:
            return output["text"]


async def test_opening_more_pages_than_allowed_closes_the_oldest_with_4429(settings):
    settings.WEBSOCKET_MAX_PER_USER = 2
    [(user_id, key)] = await sync_to_async(session_cookies)(1)
    pages = [communicator(key) for _ in range(3)]
    for page in pages:
        assert (await page.connect())[0]
    assert await pages[0].receive_output(timeout=5) == {
        "type": "websocket.close", "code": CLOSE_TOO_MANY_SOCKETS
    }
    await live.publish_async([(user_id, {"type": "notification.created", "id": 5, "unread": 1})])
    for page in pages[1:]:
        assert 'id="notification-5"' in await page.receive_from(timeout=5)
        await page.disconnect()
    assert live.open_sockets() == 0


async def test_a_page_closing_makes_room_for_another_without_closing_anyone(settings):
    settings.WEBSOCKET_MAX_PER_USER = 2
    [(user_id, key)] = await sync_to_async(session_cookies)(1)
    first, second = communicator(key), communicator(key)
    assert (await first.connect())[0]
    assert (await second.connect())[0]
    await second.disconnect()
    third = communicator(key)
    assert (await third.connect())[0]
    assert await first.receive_nothing(timeout=0.5)  # one newer page open: below the cap
    await first.disconnect()
    await third.disconnect()


async def test_an_open_socket_survives_a_redis_restart_and_catches_up(
    throwaway_redis, settings, monkeypatch
):
    settings.CHANNEL_LAYERS = layer_on(throwaway_redis.url)
    monkeypatch.setattr(live, "PING_SECONDS", 0.2)
    [(user_id, key)] = await sync_to_async(session_cookies)(1)
    page = communicator(key)
    assert (await page.connect())[0]
    before = await sync_to_async(notify_one)(user_id, "Before")
    assert f'id="notification-{before}"' in await page.receive_from(timeout=5)

    throwaway_redis.kill()
    listener = live._listener()
    await wait_until(lambda: listener.interrupted)
    # Created while the layer is away: its push fails (logged), the row is committed.
    during = await sync_to_async(notify_one)(user_id, "During")
    throwaway_redis.start()

    # The socket was not closed: it catches up from the database once the layer is back (from
    # the last id it surely had, so "before" may come again: the page skips ids it shows) ...
    await receive_until(page, f'id="notification-{during}"')
    # ... and receives live events again.
    after = await sync_to_async(notify_one)(user_id, "After")
    await receive_until(page, f'id="notification-{after}"', seconds=5)
    await page.disconnect()


async def test_the_first_socket_of_a_process_while_redis_is_down_closes_with_4503(
    throwaway_redis, settings
):
    settings.CHANNEL_LAYERS = layer_on(throwaway_redis.url)
    [(_, key)] = await sync_to_async(session_cookies)(1)
    throwaway_redis.kill()
    page = communicator(key)
    assert (await page.connect())[0]  # accepted, so the page sees the code (not an HTTP 403)
    assert await page.receive_output(timeout=10) == {
        "type": "websocket.close", "code": CLOSE_TRY_AGAIN
    }
