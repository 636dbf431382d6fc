"""The handshake's login: one lookup on the socket pool makes the checks Django makes on a
request, and a socket whose session does not log anyone in is closed with 4401."""

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import BACKEND_SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.db import connection
from django.utils import timezone

from config.socket_guard import CLOSE_UNAUTHENTICATED

from .sockets import closed, logged_in, notify_one, socket

pytestmark = pytest.mark.django_db(transaction=True)


async def outcome(cookie: bytes):
    """A socket opened with this cookie, once its handshake is answered."""
    ws = socket(cookie)
    connected, _ = await ws.connect()
    assert connected  # accepted first, so that a refusal carries its code
    return ws


def expire(session_key: str) -> None:
    Session.objects.filter(session_key=session_key).update(
        expire_date=timezone.now() - timedelta(seconds=1)
    )


def deactivate(user) -> None:
    user.is_active = False
    user.save()


def change_password_elsewhere(user) -> None:
    # The hash in this session is now stale, as after a change made from another device.
    user.set_password("another-long-pass-phrase-5")
    user.save()


def name_an_unused_backend(session_key: str) -> None:
    store = SessionStore(session_key)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.RemoteUserBackend"
    store.save()


@pytest.mark.parametrize(
    "spoil",
    [
        lambda user, client: expire(client.session.session_key),
        lambda user, client: deactivate(user),
        lambda user, client: change_password_elsewhere(user),
        lambda user, client: name_an_unused_backend(client.session.session_key),
        lambda user, client: Session.objects.filter(
            session_key=client.session.session_key).delete(),
    ],
    ids=["expired", "inactive user", "password changed", "unused backend", "deleted"],
)
async def test_a_session_that_no_longer_logs_in_is_closed_with_4401(spoil):
    user, client, cookie = await sync_to_async(logged_in)()
    await sync_to_async(spoil)(user, client)

    ws = await outcome(cookie)

    assert await ws.receive_output(timeout=5) == closed(CLOSE_UNAUTHENTICATED)


@pytest.mark.parametrize("cookie", [b"", b"sessionid=", b"sessionid=no-such-session-key"])
async def test_a_socket_without_a_session_is_closed_with_4401(cookie):
    ws = await outcome(cookie)

    assert await ws.receive_output(timeout=5) == closed(CLOSE_UNAUTHENTICATED)


async def test_a_live_session_logs_the_socket_in_as_its_user_only():
    user, _, cookie = await sync_to_async(logged_in)()
    other, _, _ = await sync_to_async(logged_in)()
    ws = await outcome(cookie)

    own_id = await sync_to_async(notify_one)(user)
    await sync_to_async(notify_one)(other)

    assert f"notification-{own_id}" in await ws.receive_from(timeout=5)
    assert await ws.receive_nothing(timeout=0.5)
    await ws.disconnect()


def drop_other_connections() -> None:
    """PostgreSQL ends every other session on this database, as a restart or a failover does."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


async def test_a_handshake_after_postgresql_dropped_the_pools_connection_still_logs_in():
    user, _, cookie = await sync_to_async(logged_in)()
    first = await outcome(cookie)  # the pool's thread now holds a persistent connection
    await first.disconnect()

    await sync_to_async(drop_other_connections)()
    ws = await outcome(cookie)

    notification_id = await sync_to_async(notify_one)(user)
    assert f"notification-{notification_id}" in await ws.receive_from(timeout=5)
    await ws.disconnect()
