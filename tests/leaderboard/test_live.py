import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connections
from django.test import Client

from config.asgi import application
from leaderboard import live, services
from notifications.realtime.consumers import CLOSE_UNAUTHENTICATED
from tests.leaderboard.factories import EntryFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
async def close_connections_of_the_sync_thread():
    """The thread behind sync_to_async keeps its own connection; close it before teardown."""
    yield
    await sync_to_async(connections.close_all)()


def viewer_with_cookie(username: str) -> tuple[int, bytes]:
    user = UserFactory(username=username)
    EntryFactory(user=user, total_score=5)
    client = Client()
    client.force_login(user)
    return user.pk, f"sessionid={client.cookies['sessionid'].value}".encode()


def socket(cookie: bytes | None = None) -> WebsocketCommunicator:
    headers = [(b"origin", b"http://127.0.0.1:8000"), (b"host", b"127.0.0.1:8000")]
    if cookie:
        headers.append((b"cookie", cookie))
    return WebsocketCommunicator(application, "/ws/leaderboard/", headers=headers)


def submit(username: str, points: int) -> None:
    player = UserFactory(username=username)
    services.score_submit(user_id=player.pk, points=points)


async def test_an_open_leaderboard_page_receives_the_new_board_after_a_submit():
    _, cookie = await sync_to_async(viewer_with_cookie)("viewer")
    ws = socket(cookie)
    connected, _ = await ws.connect()
    assert connected
    assert "zoe" not in await ws.receive_from(timeout=3)  # the board as it is on connect

    await sync_to_async(submit)("zoe", 70)

    html = await ws.receive_from(timeout=3)
    assert 'id="leaderboard-top"' in html and 'id="leaderboard-around"' in html
    assert "zoe" in html and "<td>70</td>" in html
    assert 'class="is-me"' in html  # the viewer's own row in "around me"
    await ws.disconnect()


async def test_a_burst_of_submits_is_coalesced_into_one_broadcast(settings):
    settings.LEADERBOARD_BROADCAST_INTERVAL = 30  # the whole burst falls inside one interval
    _, cookie = await sync_to_async(viewer_with_cookie)("viewer")
    ws = socket(cookie)
    await ws.connect()
    await ws.receive_from(timeout=3)  # the board as it is on connect

    for n in range(10):
        await sync_to_async(submit)(f"p{n}", 10 + n)

    await ws.receive_from(timeout=3)
    assert await ws.receive_nothing(timeout=0.5)
    await ws.disconnect()


async def test_a_page_that_reconnects_gets_the_board_it_missed():
    _, cookie = await sync_to_async(viewer_with_cookie)("viewer")
    await sync_to_async(submit)("zoe", 70)  # while no socket was open

    ws = socket(cookie)
    await ws.connect()
    html = await ws.receive_from(timeout=3)
    assert "zoe" in html and 'id="leaderboard-around"' in html
    await ws.disconnect()


async def test_a_new_broadcast_can_follow_once_the_interval_has_passed():
    assert await sync_to_async(live.broadcast_schedule)() is True
    assert await sync_to_async(live.broadcast_schedule)() is False
    await sync_to_async(live.cache.delete)(live.BROADCAST_PENDING_KEY)  # the interval expiring
    assert await sync_to_async(live.broadcast_schedule)() is True


async def test_an_anonymous_socket_is_closed_as_unauthenticated():
    ws = socket()
    await ws.connect()
    assert await ws.receive_output(timeout=2) == {"type": "websocket.close", "code": CLOSE_UNAUTHENTICATED}
