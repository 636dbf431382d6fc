"""GraphQL over a real daphne process (``manage.py serve --web-only``) and real sockets."""

import json

import httpx
import pytest
import websockets
from channels.db import database_sync_to_async
from django.conf import settings

from tests.factories import UserFactory
from tests.graphql.conftest import notify_user
from tests.graphql.ws import PROTOCOL, session_cookie
from tests.ui.conftest import asgi_server, module_asgi_server  # noqa: F401 (fixtures)

FEED = "subscription($after: String) { notificationCreated(after: $after) { id cursor title } }"


@database_sync_to_async
def user_and_cookie(username):
    user = UserFactory(username=username)
    return user, session_cookie(user).decode()


notify = database_sync_to_async(notify_user)


async def connect(server, cookie):
    socket = await websockets.connect(
        server.url.replace("http://", "ws://") + "/graphql/",
        subprotocols=[PROTOCOL],
        additional_headers={"Cookie": cookie, "Origin": server.url},
        open_timeout=10,
    )
    await socket.send(json.dumps({"type": "connection_init"}))
    assert json.loads(await socket.recv())["type"] == "connection_ack"
    return socket


async def subscribe_and_wait(socket, variables):
    """Subscribe to the feed, then to the unread count: its first frame means both joined."""
    await socket.send(json.dumps({"id": "feed", "type": "subscribe",
                                  "payload": {"query": FEED, "variables": variables}}))
    await socket.send(json.dumps({"id": "probe", "type": "subscribe",
                                  "payload": {"query": "subscription { unreadCount }"}}))
    early = []
    while True:
        message = json.loads(await socket.recv())
        if message["id"] == "probe":
            return early
        early.append(message)


async def next_feed(socket) -> dict:
    while True:
        message = json.loads(await socket.recv())
        if message["id"] == "feed":
            assert message["type"] == "next", message
            return message["payload"]["data"]["notificationCreated"]


@pytest.mark.skipif(not settings.REDIS_URL, reason="the server shares the Redis channel layer")
async def test_subscription_over_daphne_resumes_from_its_cursor_after_a_disconnect(asgi_server):
    alice, cookie = await user_and_cookie("alice")

    async with httpx.AsyncClient(base_url=asgi_server.url, headers={"Cookie": cookie}) as http:
        answer = await http.get("/graphql/", params={"query": "{ me { username } }"})
    assert answer.json() == {"data": {"me": {"username": "alice"}}}

    socket = await connect(asgi_server, cookie)
    assert await subscribe_and_wait(socket, {}) == []
    first = await notify(alice, "first")
    seen = await next_feed(socket)
    assert seen["id"] == str(first)
    await socket.close()

    missed = await notify(alice, "missed")
    socket = await connect(asgi_server, cookie)
    early = await subscribe_and_wait(socket, {"after": seen["cursor"]})
    replayed = [message["payload"]["data"]["notificationCreated"]["id"] for message in early
                if message["id"] == "feed"]
    while len(replayed) < 1:
        replayed.append((await next_feed(socket))["id"])
    assert replayed == [str(missed)]
    live = await notify(alice, "live")
    assert (await next_feed(socket))["id"] == str(live)
    await socket.close()
