"""Several web processes behind one address, as services mode runs them (``serve --processes``).

Real daphne processes sharing one listening socket, real WebSocket clients (the ``websockets``
library) with session cookies, the test database and Redis.
"""

import asyncio
import time

import psutil
import pytest
import websockets
from asgiref.sync import sync_to_async
from django.db import transaction

from notifications.kinds import EVENT_UPDATED
from notifications.services import notify
from tests.live_server import LiveServer, free_port, server_environment
from tests.realtime.conftest import session_cookies

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services]

BURST = 200


@pytest.fixture(scope="module")
def two_process_server(django_db_setup, tmp_path_factory):
    log_path = tmp_path_factory.mktemp("web") / "server.log"
    server = LiveServer(env=server_environment(WEB_PROCESSES="2"), port=free_port(),
                        log_path=log_path)
    server.start()
    yield server
    server.stop()


def web_process_of(server: LiveServer) -> dict[int, int]:
    """Local port of each established client connection → pid of the web process holding it."""
    holders = {}
    for child in psutil.Process(server.process.pid).children(recursive=True):
        for conn in child.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_ESTABLISHED and conn.laddr.port == server.port:
                holders[conn.raddr.port] = child.pid
    return holders


async def open_pages(server, cookies, *, within_seconds: float):
    """Open one socket per (user, session) at once; returns the sockets, in order."""

    async def open_one(session_key):
        return await websockets.connect(
            f"ws://127.0.0.1:{server.port}/ws/notifications/",
            additional_headers={"Cookie": f"sessionid={session_key}"},
            origin=server.url, open_timeout=within_seconds * 10,
        )

    return await asyncio.gather(*(open_one(key) for _, key in cookies))


def notify_all(user_ids, title):
    with transaction.atomic():
        return notify(kind=EVENT_UPDATED, recipients=user_ids,
                      context={"event_title": title, "changes": ["place"]})


async def frame_with(ws, needle: str, seconds: float = 10) -> str:
    deadline = time.monotonic() + seconds
    while True:
        frame = await asyncio.wait_for(ws.recv(), timeout=deadline - time.monotonic())
        if needle in frame:
            return frame


async def test_a_burst_of_connects_all_succeed_and_each_page_gets_its_notification_on_either_process(
    two_process_server,
):
    cookies = await sync_to_async(session_cookies)(BURST, prefix="burst")
    started = time.monotonic()
    pages = await open_pages(two_process_server, cookies, within_seconds=1)
    print(f"{BURST} handshakes in {time.monotonic() - started:.2f} s")
    try:
        holders = web_process_of(two_process_server)
        by_process = {pid: sum(1 for p in holders.values() if p == pid)
                      for pid in set(holders.values())}
        print("sockets per web process:", by_process)
        # Both processes hold sockets, so the notification created here reaches each of them.
        assert len(by_process) == 2, by_process

        result = await sync_to_async(notify_all)([user_id for user_id, _ in cookies],
                                                 "Burst night")
        ids = dict(zip([user_id for user_id, _ in cookies], result.notification_ids))
        frames = await asyncio.gather(*(
            frame_with(page, f'id="notification-{ids[user_id]}"')
            for page, (user_id, _) in zip(pages, cookies)
        ))
        assert all("Burst night" in frame for frame in frames)
    finally:
        await asyncio.gather(*(page.close() for page in pages))
    assert "Traceback" not in two_process_server.log_tail(20000)
