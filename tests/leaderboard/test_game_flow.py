"""Ranked games played in the browser: open, join, write in turns, end, scored exactly once.

Bad input gets a clear 4xx answer and changes nothing (the game row, its chapters, its players
and the session history are compared before and after).
"""

import pytest
from django.urls import reverse

from leaderboard import services
from leaderboard.models import Game, GameSession, LeaderboardEntry
from notifications.models import Notification
from tests.leaderboard.factories import UserFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def ann():
    return UserFactory(username="ann")


@pytest.fixture
def ben():
    return UserFactory(username="ben")


@pytest.fixture
def cat():
    return UserFactory(username="cat")


@pytest.fixture
def as_user(client):
    def login(user):
        client.force_login(user)
        return client

    return login


def snapshot(game: Game) -> tuple:
    game = Game.objects.get(pk=game.pk)
    return (
        game.status, game.chapters, game.ended_at,
        sorted(game.players.values_list("pk", flat=True)),
        GameSession.objects.filter(game=game).count(),
    )


@pytest.fixture
def open_game(ann, ben):
    game = services.game_open(creator=ann, title="Night train", prompt="The lights go out.",
                              chapter_count=3)
    services.game_join(game=game, user=ben)
    return game


def write(client, game, text, **headers):
    return client.post(reverse("leaderboard:game_write", args=[game.pk]), {"text": text},
                       **headers)


# --- Opening and joining --------------------------------------------------------------------------


def test_opening_a_game_seats_the_creator_and_shows_it_among_open_games(ann, as_user):
    client = as_user(ann)
    response = client.post(reverse("leaderboard:game_new"),
                           {"title": "Night train", "prompt": "The lights go out.",
                            "chapter_count": 4})
    game = Game.objects.get()
    assert response.status_code == 302 and response.url == reverse("leaderboard:game",
                                                                   args=[game.pk])
    assert (game.creator, game.prompt, game.chapter_count) == (ann, "The lights go out.", 4)
    assert list(game.players.all()) == [ann]
    page = client.get(reverse("leaderboard:games")).content.decode()
    assert f'id="game-row-{game.pk}"' in page and "Night train" in page


@pytest.mark.parametrize("data", [
    {"title": "", "prompt": "A start", "chapter_count": 3},
    {"title": "T", "prompt": "   ", "chapter_count": 3},
    {"title": "T", "prompt": "A start", "chapter_count": 0},
    {"title": "T", "prompt": "A start", "chapter_count": 13},
])
def test_opening_a_game_with_bad_input_is_400_and_makes_nothing(data, ann, as_user):
    response = as_user(ann).post(reverse("leaderboard:game_new"), data)
    assert response.status_code == 400
    assert "errorlist" in response.content.decode()
    assert not Game.objects.exists()


def test_players_join_at_the_end_of_the_turn_order_once(open_game, ben, cat, as_user):
    client = as_user(cat)
    response = client.post(reverse("leaderboard:game_join", args=[open_game.pk]), **HTMX)
    assert response.status_code == 200
    assert response.content.decode().lstrip().startswith('<div id="game-live"')
    again = client.post(reverse("leaderboard:game_join", args=[open_game.pk]), **HTMX)
    assert "already playing" in again.content.decode()
    assert services.selectors.game_turn_order(game_id=open_game.pk) == [
        open_game.creator_id, ben.pk, cat.pk
    ]


def test_joining_a_finished_game_is_400_and_changes_nothing(open_game, ann, cat, as_user):
    services.game_write_chapter(game=open_game, author=ann, text="Someone screams.")
    services.game_finish(game=open_game, user=ann)
    before = snapshot(open_game)
    response = as_user(cat).post(reverse("leaderboard:game_join", args=[open_game.pk]), **HTMX)
    assert response.status_code == 400
    assert "finished" in response.content.decode()
    assert snapshot(open_game) == before


# --- Writing in turns -----------------------------------------------------------------------------


def test_chapters_are_written_in_join_order_and_the_last_one_ends_and_scores_the_game(
    open_game, ann, ben, as_user, django_capture_on_commit_callbacks
):
    client = as_user(ann)
    assert write(client, open_game, "The lights go out; a scream.").status_code == 302
    client = as_user(ben)
    assert write(client, open_game, "A conductor lights a match.").status_code == 302
    client = as_user(ann)
    with django_capture_on_commit_callbacks(execute=True):
        response = write(client, open_game, "The train stops at a station nobody knows.",
                         **HTMX)
    assert response.status_code == 200
    game = Game.objects.get(pk=open_game.pk)
    assert game.status == Game.Status.SCORED
    assert [chapter["author"] for chapter in game.chapters] == [ann.pk, ben.pk, ann.pk]
    sessions = {s.player_id: s for s in GameSession.objects.filter(game=game)}
    # Each chapter is its author's alone.
    assert [c["chapter"] for c in sessions[ann.pk].chapter_scores] == [1, 3]
    assert [c["chapter"] for c in sessions[ben.pk].chapter_scores] == [2]
    for session in sessions.values():
        assert session.total_score == sum(c["score"] for c in session.chapter_scores)
        assert all(c["comment"] for c in session.chapter_scores)
        entry = LeaderboardEntry.objects.get(user_id=session.player_id)
        assert (entry.total_score, entry.games_played) == (session.total_score, 1)
    for player in (ann, ben):
        notice = Notification.objects.get(recipient=player, kind="game_scored")
        assert notice.url == reverse("leaderboard:game", args=[game.pk])
    page = client.get(reverse("leaderboard:game", args=[game.pk])).content.decode()
    for chapter in sessions[ann.pk].chapter_scores + sessions[ben.pk].chapter_scores:
        assert chapter["comment"] in page
    # Scoring again is a no-op: exactly once, the history only appended to.
    assert services.game_score(game_id=game.pk) is False
    assert GameSession.objects.filter(game=game).count() == 2


def test_an_empty_chapter_is_400_and_changes_nothing(open_game, ann, as_user):
    before = snapshot(open_game)
    for text in ["", "   \n  "]:
        response = write(as_user(ann), open_game, text, **HTMX)
        assert response.status_code == 400
        assert "empty chapter" in response.content.decode()
    assert snapshot(open_game) == before


def test_a_chapter_out_of_turn_is_400_and_names_whose_turn_it_is(open_game, ann, ben, as_user):
    before = snapshot(open_game)
    response = write(as_user(ben), open_game, "I go first.", **HTMX)
    assert response.status_code == 400
    assert "It is ann&#x27;s turn" in response.content.decode()
    assert snapshot(open_game) == before
    services.game_write_chapter(game=open_game, author=ann, text="Ann starts.")
    before = snapshot(open_game)
    response = write(as_user(ann), open_game, "Ann again.")  # a plain POST: the page, 400
    assert response.status_code == 400 and "ben&#x27;s turn" in response.content.decode()
    assert snapshot(open_game) == before


def test_someone_outside_the_game_cannot_write_in_it(open_game, cat, as_user):
    before = snapshot(open_game)
    response = write(as_user(cat), open_game, "Let me in.", **HTMX)
    assert response.status_code == 403
    assert snapshot(open_game) == before


def test_no_chapter_after_the_game_ended(open_game, ann, as_user):
    services.game_write_chapter(game=open_game, author=ann, text="Ann starts.")
    services.game_finish(game=open_game, user=ann)
    before = snapshot(open_game)
    response = write(as_user(ann), open_game, "One more.", **HTMX)
    assert response.status_code == 400 and "ended" in response.content.decode()
    assert snapshot(open_game) == before


# --- Ending ---------------------------------------------------------------------------------------


def end(client, game, **headers):
    return client.post(reverse("leaderboard:game_end", args=[game.pk]), **headers)


def test_the_creator_ends_the_game_early_and_a_second_end_is_400(
    open_game, ann, as_user, django_capture_on_commit_callbacks
):
    services.game_write_chapter(game=open_game, author=ann, text="Ann starts.")
    client = as_user(ann)
    with django_capture_on_commit_callbacks(execute=True):
        response = end(client, open_game, **HTMX)
    assert response.status_code == 200
    assert Game.objects.get(pk=open_game.pk).status == Game.Status.SCORED
    before = snapshot(open_game)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = end(client, open_game, **HTMX)
    assert response.status_code == 400
    assert "already ended" in response.content.decode()
    assert snapshot(open_game) == before and not callbacks


def test_only_the_creator_ends_and_not_before_a_chapter(open_game, ann, ben, as_user):
    before = snapshot(open_game)
    response = end(as_user(ann), open_game, **HTMX)
    assert response.status_code == 400 and "at least one chapter" in response.content.decode()
    services.game_write_chapter(game=open_game, author=ann, text="Ann starts.")
    before = snapshot(open_game)
    assert end(as_user(ben), open_game, **HTMX).status_code == 403
    assert snapshot(open_game) == before


@pytest.mark.parametrize("name", ["game_join", "game_write", "game_end"])
def test_game_actions_need_a_login_a_post_and_a_real_game(name, client, ann):
    url = reverse(f"leaderboard:{name}", args=[1])
    assert client.post(url).status_code == 302  # to the login page
    client.force_login(ann)
    assert client.get(url).status_code == 405
    assert client.post(url).status_code == 404


def test_the_games_page_costs_the_same_with_more_games(ann, ben, as_user):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def open_games(count):
        for n in range(count):
            game = services.game_open(creator=ann, title=f"G{n}", prompt="P", chapter_count=2)
            services.game_join(game=game, user=ben)

    client = as_user(ann)
    client.get(reverse("leaderboard:games"))  # warm the session
    open_games(2)
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("leaderboard:games"))
    open_games(5)
    with CaptureQueriesContext(connection) as more:
        response = client.get(reverse("leaderboard:games"))
    assert response.content.decode().count('class="game-row"') == 7
    assert len(more) == len(few)
