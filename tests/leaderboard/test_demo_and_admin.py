import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from leaderboard import demo, selectors, services, sorted_set
from leaderboard.models import Game, GameSession
from notifications.models import Notification
from tests.leaderboard.factories import GameFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_the_demo_has_a_scored_game_on_the_board_and_is_safe_to_load_again(
    django_capture_on_commit_callbacks,
):
    users = {name: UserFactory(username=name) for name in ("admin", "organizer", "alice", "bob")}
    with django_capture_on_commit_callbacks(execute=True):
        demo.load(users=users)
    with django_capture_on_commit_callbacks(execute=True):
        notes = demo.load(users=users)

    game = Game.objects.get(title=demo.DEMO_GAME_TITLE)
    assert game.status == Game.Status.SCORED
    assert GameSession.objects.filter(game=game).count() == 3
    assert {row.username for row in selectors.top()} == {"alice", "bob", "organizer"}
    assert Notification.objects.filter(recipient=users["alice"], kind="game_scored").count() == 1
    assert f"/leaderboard/games/{game.pk}/" in notes[0]
    # An open game alice started, waiting for bob: one chapter written, alice alone so far.
    open_game = Game.objects.get(title=demo.OPEN_GAME_TITLE)
    assert (open_game.status, len(open_game.chapters)) == (Game.Status.PLAYING, 1)
    assert list(open_game.players.all()) == [users["alice"]]
    services.game_join(game=open_game, user=users["bob"])
    assert selectors.game_next_author(
        game=open_game, order=selectors.game_turn_order(game_id=open_game.pk)
    ) == users["bob"].pk


@pytest.fixture
def admin_client(client):
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "pw"))
    return client


def test_the_admin_action_ends_and_scores_games(admin_client, django_capture_on_commit_callbacks):
    game = GameFactory(players=[UserFactory(), UserFactory()])
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:leaderboard_game_changelist"),
            {"action": "end_and_score", "_selected_action": [game.pk]},
        )
    assert response.status_code == 302
    game.refresh_from_db()
    assert game.status == Game.Status.SCORED


@pytest.mark.services
def test_the_admin_action_rebuilds_the_ranking(admin_client, board, clean_redis):
    users = board({"ann": 100, "ben": 90})
    clean_redis.flushdb()
    response = admin_client.post(
        reverse("admin:leaderboard_leaderboardentry_changelist"),
        {"action": "rebuild_ranking", "_selected_action": [users["ann"].leaderboard_entry.pk]},
        follow=True,
    )
    assert "drift repaired: 2 missing" in response.content.decode()
    assert sorted_set.rank_of(users["ben"].pk) == 2


def test_entries_are_searchable_by_username(admin_client, board):
    board({"ann": 100, "ben": 90})
    response = admin_client.get(reverse("admin:leaderboard_leaderboardentry_changelist"), {"q": "ann"})
    assert response.context["cl"].result_count == 1


def test_the_game_page_in_the_admin_shows_sessions_inline(admin_client, django_capture_on_commit_callbacks):
    game = GameFactory(players=[UserFactory(username="ann")])
    with django_capture_on_commit_callbacks(execute=True):
        services.game_end(game=game)
    response = admin_client.get(reverse("admin:leaderboard_game_change", args=[game.pk]))
    assert response.status_code == 200
    assert "ann" in response.content.decode()
