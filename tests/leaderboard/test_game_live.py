"""A game's page over the real Redis channel layer: turns, "scoring…" and the scores, live."""

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connections
from django.test import Client

from config.asgi import application
from leaderboard import services
from leaderboard.consumers import CLOSE_NO_SUCH_GAME
from tests.leaderboard.factories import UserFactory
from tests.leaderboard.scorers import open_gate

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
async def close_connections_of_the_sync_threads():
    yield
    await sync_to_async(connections.close_all)()


def player_with_cookie(username: str):
    user = UserFactory(username=username)
    client = Client()
    client.force_login(user)
    return user, f"sessionid={client.cookies['sessionid'].value}".encode()


async def game_socket(cookie, game_id):
    ws = WebsocketCommunicator(
        application, f"/ws/games/{game_id}/",
        headers=[(b"origin", b"http://127.0.0.1:8000"), (b"host", b"127.0.0.1:8000"),
                 (b"cookie", cookie)],
    )
    assert (await ws.connect(timeout=5))[0]
    return ws


@pytest.mark.services  # the test scorer's gate is a Redis key
async def test_both_players_see_the_turn_pass_then_scoring_then_every_chapters_score(settings):
    settings.LEADERBOARD_SCORER = "tests.leaderboard.scorers.GatedScorer"
    ann, ann_cookie = await sync_to_async(player_with_cookie)("ann")
    ben, ben_cookie = await sync_to_async(player_with_cookie)("ben")
    game = await sync_to_async(services.game_open)(
        creator=ann, title="Night train", prompt="The lights go out.", chapter_count=2
    )
    await sync_to_async(services.game_join)(game=game, user=ben)
    ann_page = await game_socket(ann_cookie, game.pk)
    ben_page = await game_socket(ben_cookie, game.pk)
    assert 'id="chapter-form"' in await ann_page.receive_from(timeout=3)  # ann writes first
    assert "Waiting for <strong>ann</strong>" in await ben_page.receive_from(timeout=3)

    await sync_to_async(services.game_write_chapter)(game=game, author=ann, text="A scream.")
    assert "Waiting for <strong>ben</strong>" in await ann_page.receive_from(timeout=3)
    fragment = await ben_page.receive_from(timeout=3)
    assert 'id="chapter-form"' in fragment and "A scream." in fragment

    # The last chapter ends the game; scoring waits at the gate meanwhile.
    last = asyncio.ensure_future(sync_to_async(services.game_write_chapter, thread_sensitive=False)(
        game=game, author=ben, text="A match is struck."
    ))
    for page in (ann_page, ben_page):
        fragment = await page.receive_from(timeout=5)
        assert 'hx-swap-oob="true"' in fragment and "Scoring…" in fragment
        assert 'id="chapter-form"' not in fragment
    await sync_to_async(open_gate)()
    await last
    for page in (ann_page, ben_page):
        fragment = await page.receive_from(timeout=5)
        assert "Scored" in fragment and "Scoring…" not in fragment
        assert fragment.count('class="chapter-score"') == 2  # every chapter, its score
        assert "Results" in fragment
        await page.disconnect()


async def test_an_unknown_game_socket_is_closed_with_4404():
    _, cookie = await sync_to_async(player_with_cookie)("ann")
    ws = WebsocketCommunicator(
        application, "/ws/games/999999/",
        headers=[(b"origin", b"http://127.0.0.1:8000"), (b"host", b"127.0.0.1:8000"),
                 (b"cookie", cookie)],
    )
    await ws.connect(timeout=5)
    assert (await ws.receive_output(timeout=3))["code"] == CLOSE_NO_SUCH_GAME
    await ws.disconnect()
