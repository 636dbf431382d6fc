"""The notification socket over the real Redis channel layer (settings from REDIS_URL)."""

import asyncio
import re
import threading
from datetime import time

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import transaction
from django.test import Client

from config.asgi import application
from notifications import selectors, services
from notifications.kinds import EVENT_CANCELLED, EVENT_UPDATED
from notifications.services import notify
from tests.pipeline.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def user_with_cookie(username):
    user = UserFactory(username=username)
    client = Client()
    client.force_login(user)
    return user, f"sessionid={client.cookies['sessionid'].value}".encode()


def socket(cookie, path="/ws/notifications/"):
    headers = [(b"origin", b"http://127.0.0.1:8000"), (b"host", b"127.0.0.1:8000"),
               (b"cookie", cookie)]
    return WebsocketCommunicator(application, path, headers=headers)


def notify_committed(user, key, kind=EVENT_UPDATED):
    with transaction.atomic():
        result = notify(kind=kind, recipients=[user], context={"event_title": key},
                        dedupe_key=key, url="/events/1/")
    return result.notification_ids[0]


def toast_ids(fragment):
    return [int(n) for n in re.findall(r'id="notification-(\d+)"', fragment)]


def badge(fragment):
    return re.search(r'<span id="notification-badge"[^>]*>([^<]*)</span>', fragment).group(1)


async def test_new_notification_arrives_as_toast_and_badge():
    alice, cookie = await sync_to_async(user_with_cookie)("alice")
    ws = socket(cookie)
    assert (await ws.connect())[0]

    notification_id = await sync_to_async(notify_committed)(alice, "Quiz night")

    fragment = await ws.receive_from(timeout=3)
    assert toast_ids(fragment) == [notification_id]
    assert 'hx-swap-oob="beforeend:#notification-toasts"' in fragment
    assert "Quiz night was updated" in fragment
    assert badge(fragment) == "1"
    await ws.disconnect()


async def test_a_socket_opens_and_closes_while_channels_sync_thread_is_busy():
    """Handshakes in a reconnect storm must not queue on Channels' one sync thread (its dispatch
    closes old database connections there before every handler)."""
    alice, cookie = await sync_to_async(user_with_cookie)("alice")
    release = threading.Event()
    busy = asyncio.ensure_future(sync_to_async(release.wait)())  # holds the sync thread
    try:
        ws = socket(cookie)
        assert (await ws.connect(timeout=5))[0]
        notification_id = await sync_to_async(notify_committed, thread_sensitive=False)(
            alice, "Quiz night"
        )
        assert toast_ids(await ws.receive_from(timeout=3)) == [notification_id]
        await ws.disconnect(timeout=5)
        assert not busy.done()
    finally:
        release.set()
        await busy


async def test_urgent_notification_arrives_as_banner():
    alice, cookie = await sync_to_async(user_with_cookie)("alice")
    ws = socket(cookie)
    assert (await ws.connect())[0]

    await sync_to_async(notify_committed)(alice, "Gala", kind=EVENT_CANCELLED)

    fragment = await ws.receive_from(timeout=3)
    assert 'hx-swap-oob="afterbegin:#notification-banners"' in fragment
    assert 'role="alert"' in fragment and "Gala is cancelled" in fragment
    await ws.disconnect()


async def test_catch_up_message_sends_everything_after_last_id():
    alice, cookie = await sync_to_async(user_with_cookie)("alice")
    ids = [await sync_to_async(notify_committed)(alice, f"Event {n}") for n in range(4)]
    ws = socket(cookie)
    assert (await ws.connect())[0]

    # What htmx's ws extension sends: the form values plus its HEADERS.
    await ws.send_json_to({"action": "catch_up", "last_id": str(ids[1]),
                           "HEADERS": {"HX-Request": "true"}})

    fragment = await ws.receive_from(timeout=3)
    assert toast_ids(fragment) == ids[2:]
    assert badge(fragment) == "4"
    await ws.disconnect()


async def test_catch_up_on_connect_with_last_id_query_parameter():
    alice, cookie = await sync_to_async(user_with_cookie)("alice")
    ids = [await sync_to_async(notify_committed)(alice, f"Event {n}") for n in range(3)]
    await sync_to_async(services.notification_mark_read)(user=alice, notification_id=ids[2])
    ws = socket(cookie, f"/ws/notifications/?last_id={ids[0]}")
    assert (await ws.connect())[0]

    fragment = await ws.receive_from(timeout=3)
    assert toast_ids(fragment) == [ids[1]]  # the one already read makes no toast
    assert badge(fragment) == "2"
    await ws.disconnect()


def notify_many_committed(user, count):
    with transaction.atomic():
        for n in range(count):
            notify(kind=EVENT_UPDATED, recipients=[user], context={"event_title": f"E{n}"},
                   dedupe_key=f"many-{n}", url="/events/1/")


async def test_catch_up_past_the_cap_says_how_many_more_and_links_to_the_center(settings):
    settings.NOTIFICATIONS_RATE_LIMIT_COUNT = 100  # 57 of one kind, each its own toast
    alice, cookie = await sync_to_async(user_with_cookie)("alice")
    await sync_to_async(notify_many_committed)(alice, selectors.CATCH_UP_LIMIT + 7)
    ws = socket(cookie, "/ws/notifications/?last_id=0")
    assert (await ws.connect())[0]

    fragment = await ws.receive_from(timeout=3)
    assert len(toast_ids(fragment)) == selectors.CATCH_UP_LIMIT
    assert 'id="notification-more"' in fragment
    assert "7 more notifications while you were away" in fragment
    assert 'href="/notifications/"' in fragment

    # Within the cap there is no note.
    last = max(toast_ids(fragment))
    await ws.send_json_to({"action": "catch_up", "last_id": last - 3})
    fragment = await ws.receive_from(timeout=3)
    assert len(toast_ids(fragment)) == 3 and "notification-more" not in fragment
    await ws.disconnect()


async def test_catch_up_sends_only_the_users_own_notifications():
    alice, cookie = await sync_to_async(user_with_cookie)("alice")
    bob = await sync_to_async(UserFactory)(username="bob")
    await sync_to_async(notify_committed)(bob, "Bob's event")
    ws = socket(cookie)
    assert (await ws.connect())[0]

    await ws.send_json_to({"action": "catch_up", "last_id": 0})

    fragment = await ws.receive_from(timeout=3)
    assert toast_ids(fragment) == []
    assert 'hidden' in fragment  # badge hidden at zero
    await ws.disconnect()


@pytest.mark.parametrize(
    "frame",
    ["not json", '{"action": "catch_up", "last_id": "abc"}', '["catch_up"]'],
)
async def test_a_malformed_message_closes_that_socket_with_1007_and_others_stay_open(frame):
    alice, cookie = await sync_to_async(user_with_cookie)("alice")
    ws, other = socket(cookie), socket(cookie)
    assert (await ws.connect())[0] and (await other.connect())[0]

    await ws.send_to(text_data=frame)

    assert await ws.receive_output(timeout=3) == {"type": "websocket.close", "code": 1007}
    notification_id = await sync_to_async(notify_committed)(alice, "Still open")
    assert toast_ids(await other.receive_from(timeout=3)) == [notification_id]
    await other.disconnect()


async def test_marking_read_refreshes_the_badge_on_open_pages():
    alice, cookie = await sync_to_async(user_with_cookie)("alice")
    notification_id = await sync_to_async(notify_committed)(alice, "Read me")
    ws = socket(cookie)
    assert (await ws.connect())[0]

    def mark_read():
        with transaction.atomic():
            services.notification_mark_read(user=alice, notification_id=notification_id)

    await sync_to_async(mark_read)()

    fragment = await ws.receive_from(timeout=3)
    assert toast_ids(fragment) == []
    assert badge(fragment) == "" and " hidden" in fragment
    await ws.disconnect()


async def test_quiet_hours_update_the_badge_without_a_toast():
    alice, cookie = await sync_to_async(user_with_cookie)("alice")

    def quiet_all_day():
        services.quiet_hours_set(user=alice, start=time(0, 0), end=time(23, 59, 59),
                                 time_zone="UTC")

    await sync_to_async(quiet_all_day)()
    ws = socket(cookie)
    assert (await ws.connect())[0]

    await sync_to_async(notify_committed)(alice, "Shh")

    fragment = await ws.receive_from(timeout=3)
    assert toast_ids(fragment) == []
    assert badge(fragment) == "1"
    assert await ws.receive_nothing(timeout=0.3)
    await ws.disconnect()
