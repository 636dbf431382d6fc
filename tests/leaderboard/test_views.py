import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from leaderboard import services
from leaderboard.models import GameSession
from tests.leaderboard.factories import GameFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def logged_in(client):
    def login(user):
        client.force_login(user)
        return client

    return login


@pytest.fixture
def scored_game(django_capture_on_commit_callbacks):
    players = [UserFactory(username=name) for name in ("ann", "ben")]
    game = GameFactory(title="The Lighthouse", players=players)
    with django_capture_on_commit_callbacks(execute=True):
        services.game_end(game=game)
    return game


@pytest.mark.parametrize("name", ["leaderboard:board", "leaderboard:player", "leaderboard:game"])
def test_pages_require_login(client, name):
    url = reverse(name, args=[] if name == "leaderboard:board" else [1])
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def queries_for(client, url) -> tuple[int, object]:
    client.get(url)  # warm the session and the counters
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    return len(captured), response


def test_the_board_shows_the_top_ten_and_my_neighbourhood(board, logged_in):
    users = board({f"p{i:02}": 200 - i for i in range(30)})
    client = logged_in(users["p20"])
    url = reverse("leaderboard:board")
    queries, response = queries_for(client, url)
    assert response.status_code == 200
    top = response.context["top"]
    assert [row.username for row in top] == [f"p{i:02}" for i in range(10)]
    around = response.context["around"]
    assert [row.username for row in around] == [f"p{i:02}" for i in range(15, 26)]
    assert around[5].rank == 21
    assert b'ws-connect="/ws/leaderboard/"' in response.content

    board({f"q{i:03}": 150 - i % 9 for i in range(120)})
    assert queries_for(client, url)[0] == queries  # the query count does not grow with the board


def test_an_htmx_request_gets_only_the_board_fragment(board, logged_in):
    users = board({"ann": 10})
    response = logged_in(users["ann"]).get(reverse("leaderboard:board"), HTTP_HX_REQUEST="true")
    assert response.content.decode().lstrip().startswith('<div id="leaderboard-board"')


def test_a_player_without_an_entry_is_invited_to_play(logged_in):
    response = logged_in(UserFactory()).get(reverse("leaderboard:board"))
    assert b"not on the board yet" in response.content


def test_the_board_refuses_post(board, logged_in):
    users = board({"ann": 10})
    assert logged_in(users["ann"]).post(reverse("leaderboard:board")).status_code == 405


def test_a_players_history_lists_games_with_chapter_scores(scored_game, logged_in):
    ann = scored_game.players.get(username="ann")
    session = GameSession.objects.get(game=scored_game, player=ann)
    response = logged_in(UserFactory()).get(reverse("leaderboard:player", args=[ann.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "The Lighthouse" in html
    for chapter in session.chapter_scores:
        assert chapter["comment"] in html and chapter["title"] in html


def test_history_queries_do_not_grow_with_games(logged_in, django_capture_on_commit_callbacks):
    player = UserFactory(username="ann")
    client = logged_in(player)
    url = reverse("leaderboard:player", args=[player.pk])
    counts = []
    for games in (1, 5):
        while player.game_sessions.count() < games:
            game = GameFactory(players=[player])
            with django_capture_on_commit_callbacks(execute=True):
                services.game_end(game=game)
        queries, response = queries_for(client, url)
        assert len(response.context["page"]) == games
        counts.append(queries)
    assert counts[0] == counts[1]


def test_the_result_page_ranks_the_players_and_shows_every_chapter(scored_game, logged_in):
    response = logged_in(UserFactory()).get(reverse("leaderboard:game", args=[scored_game.pk]))
    results = response.context["results"]
    assert [rank for rank, _ in results][0] == 1
    assert results[0][1].total_score >= results[1][1].total_score
    html = response.content.decode()
    for _, session in results:
        for chapter in session.chapter_scores:
            assert chapter["comment"] in html


def test_unknown_players_and_games_are_404(logged_in):
    client = logged_in(UserFactory())
    assert client.get(reverse("leaderboard:player", args=[999999])).status_code == 404
    assert client.get(reverse("leaderboard:game", args=[999999])).status_code == 404
