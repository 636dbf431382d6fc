"""Sockets end with the login that opened them, and misbehaving sockets are closed and logged."""

import json
import logging

import pytest
from asgiref.sync import sync_to_async
from django.contrib.sessions.models import Session

from config.socket_guard import (
    CLOSE_INVALID_PAYLOAD,
    CLOSE_MESSAGE_TOO_BIG,
    CLOSE_POLICY_VIOLATION,
    CLOSE_UNAUTHENTICATED,
    CLOSE_UNSUPPORTED_DATA,
)

from .sockets import closed, logged_in, notify_one, socket

pytestmark = pytest.mark.django_db(transaction=True)


async def open_socket(cookie, path="/ws/notifications/"):
    ws = socket(cookie, path)
    connected, _ = await ws.connect()
    assert connected
    if path == "/ws/leaderboard/":
        await ws.receive_from(timeout=5)  # the board it sends on connect
    return ws


async def test_logging_out_closes_that_sessions_sockets_and_no_others():
    user, client, cookie = await sync_to_async(logged_in)()
    _, _, other_cookie = await sync_to_async(logged_in)(user)
    page, board, other = (
        await open_socket(cookie), await open_socket(cookie, "/ws/leaderboard/"),
        await open_socket(other_cookie),
    )

    await sync_to_async(client.post)("/accounts/logout/")

    assert await page.receive_output(timeout=5) == closed(CLOSE_UNAUTHENTICATED)
    assert await board.receive_output(timeout=5) == closed(CLOSE_UNAUTHENTICATED)
    notification_id = await sync_to_async(notify_one)(user)
    assert f"notification-{notification_id}" in await other.receive_from(timeout=5)
    await other.disconnect()


async def test_a_password_change_closes_the_sockets_of_sessions_with_the_old_password():
    user, _, cookie = await sync_to_async(logged_in)()
    ws = await open_socket(cookie)

    def change_password():
        user.set_password("a-new-long-pass-phrase-7")
        user.save()

    await sync_to_async(change_password)()

    assert await ws.receive_output(timeout=5) == closed(CLOSE_UNAUTHENTICATED)


async def test_deactivating_a_user_closes_their_sockets():
    user, _, cookie = await sync_to_async(logged_in)()
    ws = await open_socket(cookie)

    def deactivate():
        user.is_active = False
        user.save()

    await sync_to_async(deactivate)()

    assert await ws.receive_output(timeout=5) == closed(CLOSE_UNAUTHENTICATED)


async def test_a_session_that_ends_without_a_signal_is_noticed_by_the_periodic_check(settings):
    settings.SOCKET_AUTH_RECHECK_SECONDS = 0.2
    _, client, cookie = await sync_to_async(logged_in)()
    ws = await open_socket(cookie)

    await sync_to_async(Session.objects.filter(session_key=client.session.session_key).delete)()

    assert await ws.receive_output(timeout=5) == closed(CLOSE_UNAUTHENTICATED)


async def test_a_socket_stays_open_while_its_session_is_valid(settings):
    settings.SOCKET_AUTH_RECHECK_SECONDS = 0.1
    user, _, cookie = await sync_to_async(logged_in)()
    ws = await open_socket(cookie)

    assert await ws.receive_nothing(timeout=0.5)  # several checks passed
    notification_id = await sync_to_async(notify_one)(user)
    assert f"notification-{notification_id}" in await ws.receive_from(timeout=5)
    await ws.disconnect()


@pytest.mark.parametrize(
    "path, frame, code",
    [
        ("/ws/notifications/", {"bytes_data": b"\x00\x01"}, CLOSE_UNSUPPORTED_DATA),
        ("/ws/leaderboard/", {"bytes_data": b"\x00\x01"}, CLOSE_UNSUPPORTED_DATA),
        ("/ws/notifications/", {"text_data": "x" * (64 * 1024 + 1)}, CLOSE_MESSAGE_TOO_BIG),
        ("/ws/leaderboard/", {"text_data": "x" * (64 * 1024 + 1)}, CLOSE_MESSAGE_TOO_BIG),
        ("/ws/notifications/", {"text_data": '{"action": "drop_tables"}'}, CLOSE_UNSUPPORTED_DATA),
        ("/ws/notifications/", {"text_data": "[" * 50_000}, CLOSE_INVALID_PAYLOAD),
    ],
)
async def test_a_bad_frame_closes_the_socket_with_its_code_and_is_logged(path, frame, code, caplog):
    _, _, cookie = await sync_to_async(logged_in)()
    ws = await open_socket(cookie, path)

    with caplog.at_level(logging.WARNING, logger="config.socket_guard"):
        await ws.send_to(**frame)
        assert await ws.receive_output(timeout=5) == closed(code)

    assert f"with {code}" in caplog.text


async def test_too_many_messages_close_the_socket_with_1008(settings, caplog):
    settings.SOCKET_RATE_LIMIT_MESSAGES = 3
    _, _, cookie = await sync_to_async(logged_in)()
    ws = await open_socket(cookie)
    catch_up = json.dumps({"action": "catch_up", "last_id": 0})

    for _ in range(3):
        await ws.send_to(text_data=catch_up)
        assert "notification-badge" in await ws.receive_from(timeout=5)
    with caplog.at_level(logging.WARNING, logger="config.socket_guard"):
        await ws.send_to(text_data=catch_up)
        assert await ws.receive_output(timeout=5) == closed(CLOSE_POLICY_VIOLATION)

    assert "rate limit" in caplog.text


async def test_a_foreign_origin_is_refused_and_logged(caplog):
    _, _, cookie = await sync_to_async(logged_in)()
    ws = socket(cookie, origin=b"https://evil.example")

    with caplog.at_level(logging.WARNING, logger="config.socket_guard"):
        connected, _ = await ws.connect()

    assert not connected
    assert "https://evil.example" in caplog.text
