"""The close codes and the frame cap through a real daphne server (``manage.py serve``)."""

import asyncio
import json

import pytest
import websockets

from tests.ui.conftest import asgi_server, module_asgi_server  # noqa: F401

from .sockets import logged_in

pytestmark = pytest.mark.smoke


def connect(server, cookie: bytes, path: str = "/ws/notifications/"):
    return websockets.connect(
        server.url.replace("http", "ws") + path,
        additional_headers={"Cookie": cookie.decode(), "Origin": server.url},
        max_size=None,
    )


async def close_code_after(server, cookie, frames) -> int:
    async with connect(server, cookie) as ws:
        for frame in frames:
            await ws.send(frame)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(ws.recv(), timeout=10)
    return closed.value.rcvd.code


@pytest.fixture
def cookie(asgi_server):  # noqa: F811
    return logged_in()[2]


@pytest.mark.parametrize(
    "frames, code",
    [
        ([b"\x00binary"], 1003),
        (["{not json"], 1007),
        (["x" * (64 * 1024 + 1)], 1009),
        ([json.dumps({"action": "catch_up", "last_id": 0})] * 21, 1008),
    ],
    ids=["binary", "invalid-json", "too-big", "rate-limit"],
)
def test_daphne_closes_a_misbehaving_socket_with_the_code(asgi_server, cookie, frames, code):  # noqa: F811
    assert asyncio.run(close_code_after(asgi_server, cookie, frames)) == code
