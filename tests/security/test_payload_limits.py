"""API payloads are bounded, and oversized bodies are refused before they are read."""

import asyncio
import json

import pytest

from config.asgi import application
from notifications.api.services import api_key_create
from notifications.models import Notification
from notifications.services import BODY_MAX_LENGTH, notify
from tests.delivery.factories import UserFactory

URL = "/api/v1/notifications"


@pytest.fixture
def api_post(client, db):
    _, raw_key = api_key_create(name="billing")

    def post(body, idempotency_key="req-1"):
        return client.post(
            URL, data=json.dumps(body), content_type="application/json",
            headers={"X-Api-Key": raw_key, "Idempotency-Key": idempotency_key},
        )

    return post


@pytest.mark.parametrize(
    "context, limit",
    [
        ({f"k{n}": n for n in range(51)}, "the limit is 50"),
        ({"message": "x" * 9000}, "the limit is 8192 bytes"),
        ({"k" * 65: 1}, "limited to 64 characters"),
        ({"a": {"b": {"c": {"d": {"e": 1}}}}}, "deeper than 4 levels"),
    ],
)
def test_an_oversized_context_is_400_naming_the_limit(api_post, context, limit):
    user = UserFactory()

    response = api_post({"kind": "event_updated", "recipients": [user.pk], "context": context})

    assert response.status_code == 400
    assert limit in response.json()["detail"]
    assert not Notification.objects.exists()


def test_a_context_within_the_limits_is_accepted(api_post):
    user = UserFactory()
    context = {"event_title": "Quiz", "changes": [{"text": "moved"}], "message": "y" * 7000}

    response = api_post({"kind": "event_updated", "recipients": [user.pk], "context": context})

    assert response.status_code == 201


@pytest.mark.django_db
def test_a_long_rendered_body_is_cut_to_the_limit():
    user = UserFactory()

    notify(kind="event_updated", recipients=[user], context={"message": "z" * 5000})

    body = Notification.objects.get(recipient=user).body
    assert len(body) == BODY_MAX_LENGTH
    assert body.endswith("…")


async def call_http(headers, chunks):
    """Drive the project's ASGI application; returns (status, body, chunks it read)."""
    read = []
    sent = []
    pending = list(chunks)

    async def receive():
        if not pending:
            await asyncio.Future()  # the client stays connected while the answer is written
        chunk = pending.pop(0)
        read.append(chunk)
        return {"type": "http.request", "body": chunk, "more_body": bool(pending)}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/health/live", "raw_path": b"/health/live",
        "query_string": b"", "root_path": "", "headers": headers,
        "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000),
    }
    await application(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, body, read


async def test_a_declared_length_over_the_limit_is_413_before_any_byte_is_read(settings):
    settings.REQUEST_MAX_BODY_BYTES = 1000
    headers = [(b"host", b"testserver"), (b"content-length", b"5000000000")]

    status, body, read = await call_http(headers, [b"x" * 1000] * 10)

    assert status == 413
    assert "1000 bytes" in json.loads(body)["detail"]
    assert read == []


async def test_a_chunked_body_is_413_as_soon_as_it_passes_the_limit(settings):
    settings.REQUEST_MAX_BODY_BYTES = 1000
    headers = [(b"host", b"testserver"), (b"transfer-encoding", b"chunked")]

    status, _, read = await call_http(headers, [b"x" * 400] * 50)

    assert status == 413
    assert len(read) == 3  # 1,200 bytes read of the 20,000 sent


async def test_a_body_within_the_limit_reaches_django(settings):
    settings.REQUEST_MAX_BODY_BYTES = 1000
    headers = [(b"host", b"testserver"), (b"content-length", b"800")]

    status, _, read = await call_http(headers, [b"x" * 400] * 2)

    assert status == 403  # Django's CSRF check answered, after reading the whole body
    assert len(read) == 2
