"""A game cannot stay "ended, waiting for scores" for ever: the sweep scores it again, and after
too many failed scorings marks it failed, visibly, for the admin to queue again."""

from datetime import timedelta

import pytest
from django.utils import timezone

from leaderboard import services
from leaderboard.models import Game
from tests.leaderboard.factories import GameFactory, UserFactory

pytestmark = pytest.mark.django_db


def ended_long_ago(game: Game, **fields) -> None:
    Game.objects.filter(pk=game.pk).update(
        ended_at=timezone.now() - timedelta(hours=2), **fields
    )


def test_a_game_whose_scoring_never_reached_the_broker_is_scored_by_the_sweep(
    django_capture_on_commit_callbacks,
):
    game = GameFactory(players=[UserFactory(), UserFactory()])
    # The broker was down at commit: the scoring task was never queued.
    with django_capture_on_commit_callbacks(execute=False):
        assert services.game_end(game=game) is True
    ended_long_ago(game)

    assert services.games_sweep_stuck() == {"requeued": 1, "failed": 0}

    game.refresh_from_db()
    assert game.status == Game.Status.SCORED
    # A recently ended game is left to its own scoring task.
    fresh = GameFactory(players=[UserFactory()])
    with django_capture_on_commit_callbacks(execute=False):
        services.game_end(game=fresh)
    assert services.games_sweep_stuck() == {"requeued": 0, "failed": 0}


def test_a_game_out_of_scoring_attempts_is_marked_failed_and_the_admin_can_retry_it(
    settings, admin_client, caplog, django_capture_on_commit_callbacks
):
    game = GameFactory(players=[UserFactory()])
    with django_capture_on_commit_callbacks(execute=False):
        services.game_end(game=game)
    ended_long_ago(game, scoring_attempts=settings.LEADERBOARD_SCORING_MAX_ATTEMPTS,
                   last_scoring_error="scorer answered 502")

    assert services.games_sweep_stuck() == {"requeued": 0, "failed": 1}

    game.refresh_from_db()
    assert game.status == Game.Status.FAILED
    assert "scoring failed" in caplog.text and "scorer answered 502" in caplog.text
    listed = admin_client.get("/admin/leaderboard/game/?status__exact=failed")
    assert game.title in listed.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            "/admin/leaderboard/game/",
            {"action": "retry_scoring", "_selected_action": [game.pk]},
        )

    game.refresh_from_db()
    assert game.status == Game.Status.SCORED
