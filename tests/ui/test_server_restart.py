"""The real server closes open sockets with a code that makes browsers reconnect."""

import asyncio

import pytest
import websockets
from django.conf import settings
from django.test import Client

from config.websocket_shutdown import SERVICE_RESTART
from tests.ui.factories import UserFactory

# The HTMX ws extension reconnects after these close codes only (1000 would end the page's socket).
CODES_THE_PAGE_RECONNECTS_AFTER = {1006, 1011, 1012, 1013}


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def test_server_shutdown_closes_open_sockets_with_service_restart(asgi_server):
    cookie = session_cookie(UserFactory())
    ws_url = asgi_server.url.replace("http", "ws") + "/ws/notifications/"

    async def close_code_when_server_stops() -> int:
        async with websockets.connect(
            ws_url, additional_headers={"Cookie": cookie}, origin=asgi_server.url
        ) as socket_:
            await socket_.ping()
            await asyncio.get_running_loop().run_in_executor(None, asgi_server.stop)
            with pytest.raises(websockets.ConnectionClosed) as closed:
                while True:
                    await asyncio.wait_for(socket_.recv(), 10)
            return closed.value.rcvd.code

    code = asyncio.run(close_code_when_server_stops())
    assert code == SERVICE_RESTART
    assert code in CODES_THE_PAGE_RECONNECTS_AFTER
