"""A ``graphql-transport-ws`` client over Channels' WebsocketCommunicator (the real ASGI app:
origin check, session middleware, the Redis channel layer)."""

import json

from channels.testing import WebsocketCommunicator
from django.test import Client

from config.asgi import application

PROTOCOL = "graphql-transport-ws"
TIMEOUT = 5


def session_cookie(user) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


class GraphQLSocket:
    def __init__(self, cookie: bytes | None, origin: bytes = b"http://127.0.0.1:8000"):
        headers = [(b"origin", origin), (b"host", b"127.0.0.1:8000")]
        if cookie:
            headers.append((b"cookie", cookie))
        self.communicator = WebsocketCommunicator(
            application, "/graphql/", headers=headers, subprotocols=[PROTOCOL]
        )
        self.buffered: list[dict] = []
        self.probes = 0

    async def open(self) -> dict:
        """Connect and initialise; the server's first answer (``connection_ack`` when allowed)."""
        connected, subprotocol = await self.communicator.connect(timeout=TIMEOUT)
        assert connected and subprotocol == PROTOCOL
        await self.send({"type": "connection_init"})
        return await self.communicator.receive_output(timeout=TIMEOUT)

    async def send(self, message: dict) -> None:
        await self.communicator.send_to(text_data=json.dumps(message))

    async def receive(self) -> dict:
        """The next message, leaving out those of finished probes (one may still have sent a
        frame before the server read its ``complete``)."""
        while True:
            if self.buffered:
                message = self.buffered.pop(0)
            else:
                message = json.loads(await self.communicator.receive_from(timeout=TIMEOUT))
            if not str(message.get("id", "")).startswith("probe-"):
                return message

    async def ready(self) -> None:
        """Return once the subscriptions sent so far listen to their groups.

        The socket joins groups one subscription at a time, in order, so the first frame of a
        probe subscribed after them (the current unread count) means they have all joined.
        Frames of other subscriptions that come first are kept for ``receive``.
        """
        self.probes += 1
        probe = f"probe-{self.probes}"
        await self.subscribe(probe, "subscription { unreadCount }")
        while True:
            message = json.loads(await self.communicator.receive_from(timeout=TIMEOUT))
            if message.get("id") == probe:
                break
            self.buffered.append(message)
        await self.send({"id": probe, "type": "complete"})

    async def subscribe(self, operation_id: str, query: str, variables: dict | None = None):
        payload = {"query": query}
        if variables is not None:
            payload["variables"] = variables
        await self.send({"id": operation_id, "type": "subscribe", "payload": payload})

    async def next_data(self, operation_id: str) -> dict:
        """The data of the next ``next`` frame (which must be for ``operation_id``)."""
        message = await self.receive()
        assert message["type"] == "next" and message["id"] == operation_id, message
        assert "errors" not in message["payload"], message["payload"]
        return message["payload"]["data"]

    async def close(self) -> None:
        await self.communicator.disconnect()


async def open_socket(cookie: bytes) -> GraphQLSocket:
    socket = GraphQLSocket(cookie)
    ack = await socket.open()
    assert json.loads(ack["text"])["type"] == "connection_ack", ack
    return socket
