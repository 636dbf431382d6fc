"""Logged-in sockets over the project's ASGI application and the real channel layer."""

from channels.testing import WebsocketCommunicator
from django.test import Client

from config.asgi import application
from notifications.services import notify
from tests.pipeline.factories import UserFactory

ORIGIN = b"http://127.0.0.1:8000"


def logged_in(user=None) -> tuple:
    """A user (new unless given), a logged-in test client and its session cookie header."""
    user = user or UserFactory()
    client = Client()
    client.force_login(user)
    return user, client, f"sessionid={client.cookies['sessionid'].value}".encode()


def socket(cookie: bytes, path: str = "/ws/notifications/", origin: bytes = ORIGIN):
    headers = [(b"origin", origin), (b"host", b"127.0.0.1:8000"), (b"cookie", cookie)]
    return WebsocketCommunicator(application, path, headers=headers)


def closed(code: int) -> dict:
    return {"type": "websocket.close", "code": code}


def notify_one(user, title: str = "Quiz night") -> int:
    return notify(
        kind="event_updated", recipients=[user], context={"event_title": title}
    ).notification_ids[0]
