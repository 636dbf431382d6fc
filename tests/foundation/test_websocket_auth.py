import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.test import Client

from config.asgi import application
from notifications.realtime import live
from notifications.realtime.consumers import CLOSE_UNAUTHENTICATED
from notifications.realtime.live import publish_async

pytestmark = pytest.mark.django_db(transaction=True)


def session_cookie_for(username: str) -> tuple[int, bytes]:
    user = get_user_model().objects.create_user(username=username, password="pw-123456!")
    client = Client()
    client.force_login(user)
    return user.pk, f"sessionid={client.cookies['sessionid'].value}".encode()


def communicator(cookie: bytes | None = None, origin: bytes = b"http://127.0.0.1:8000"):
    headers = [(b"origin", origin), (b"host", b"127.0.0.1:8000")]
    if cookie:
        headers.append((b"cookie", cookie))
    return WebsocketCommunicator(application, "/ws/notifications/", headers=headers)


async def test_anonymous_socket_is_closed_with_unauthenticated_code():
    ws = communicator()
    await ws.connect()
    closed = await ws.receive_output(timeout=2)
    assert closed == {"type": "websocket.close", "code": CLOSE_UNAUTHENTICATED}


async def test_cross_origin_socket_is_refused_even_when_logged_in():
    _, cookie = await sync_to_async(session_cookie_for)("mallory")
    ws = communicator(cookie, origin=b"https://evil.example")
    connected, _ = await ws.connect()
    assert not connected


async def test_logged_in_socket_receives_its_own_group_only():
    alice_id, alice_cookie = await sync_to_async(session_cookie_for)("alice")
    bob_id, _ = await sync_to_async(session_cookie_for)("bob")
    ws = communicator(alice_cookie)
    connected, _ = await ws.connect()
    assert connected
    await publish_async([
        (bob_id, {"type": "notification.created", "id": 1, "unread": 1}),
        (alice_id, {"type": "notification.created", "id": 2, "unread": 3}),
    ])
    fragment = await ws.receive_from(timeout=2)
    assert 'id="notification-2"' in fragment
    assert 'id="notification-1"' not in fragment
    assert '<span id="notification-badge" class="badge" hx-swap-oob="true"' in fragment
    assert ">3</span>" in fragment
    assert await ws.receive_nothing(timeout=0.3)
    await ws.disconnect()


async def test_disconnect_detaches_the_socket():
    alice_id, alice_cookie = await sync_to_async(session_cookie_for)("alice")
    ws = communicator(alice_cookie)
    assert (await ws.connect())[0]
    await ws.disconnect()
    assert live.open_sockets() == 0

    class Probe:  # attached after the disconnect: shows when the event has been handed out
        arrived = asyncio.Event()

        async def dispatch(self, event):
            self.arrived.set()

    probe = Probe()
    await live.attach(alice_id, probe)
    await live.publish_async([(alice_id, {"type": "notification.created", "id": 9, "unread": 1})])
    await asyncio.wait_for(probe.arrived.wait(), 5)
    live.detach(alice_id, probe)
    # Delivered to nobody else; a fresh socket sees only what comes after it.
    ws2 = communicator(alice_cookie)
    assert (await ws2.connect())[0]
    assert await ws2.receive_nothing(timeout=0.3)
    await ws2.disconnect()
