import pytest

from leaderboard import services
from leaderboard.models import Game, GameSession, LeaderboardEntry
from leaderboard.scorers import LocalScorer
from leaderboard.tasks import game_score_task
from notifications.models import Notification
from tests.leaderboard.factories import GameFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def players():
    return [UserFactory(username=name) for name in ("ann", "ben", "cat")]


def test_ending_a_game_scores_it_in_the_background_once_per_player(
    players, django_capture_on_commit_callbacks
):
    game = GameFactory(players=players)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.game_end(game=game) is True

    game.refresh_from_db()
    assert game.status == Game.Status.SCORED
    sessions = {s.player_id: s for s in GameSession.objects.filter(game=game)}
    assert set(sessions) == {p.pk for p in players}
    for player in players:
        session = sessions[player.pk]
        assert len(session.chapter_scores) == 3
        assert session.total_score == sum(c["score"] for c in session.chapter_scores)
        entry = LeaderboardEntry.objects.get(user=player)
        assert (entry.total_score, entry.games_played) == (session.total_score, 1)


def test_a_game_is_scored_exactly_once_when_the_task_runs_twice(
    players, django_capture_on_commit_callbacks
):
    game = GameFactory(players=players)
    with django_capture_on_commit_callbacks(execute=True):
        services.game_end(game=game)
    assert game_score_task.apply(args=[game.pk]).get() is False  # a redelivered task

    Game.objects.filter(pk=game.pk).update(status=Game.Status.ENDED)  # as if a redelivered task raced
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(Exception, match="lb_session_one_per_player|duplicate key|UNIQUE constraint failed"):
            game_score_task.apply(args=[game.pk]).get()

    assert GameSession.objects.filter(game=game).count() == 3
    entry = LeaderboardEntry.objects.get(user=players[0])
    assert entry.games_played == 1


def test_ending_a_game_twice_queues_scoring_once(players, django_capture_on_commit_callbacks):
    game = GameFactory(players=players)
    with django_capture_on_commit_callbacks(execute=False) as first:
        assert services.game_end(game=game) is True
    with django_capture_on_commit_callbacks(execute=False) as second:
        assert services.game_end(game=game) is False
    # The first end queues one scoring (and tells the game's open pages); the second nothing.
    assert [repr(callback).count("game_score_task") for callback in first] == [0, 1]
    assert len(second) == 0


def test_the_local_scorer_is_deterministic(players):
    game = GameFactory(players=players)
    request = services._scoring_request(game)
    assert LocalScorer().score(request) == LocalScorer().score(request)


def test_each_player_is_told_every_chapters_score_and_comment_with_total_and_rank(
    players, django_capture_on_commit_callbacks, notification_outbox
):
    game = GameFactory(players=players)
    with django_capture_on_commit_callbacks(execute=True):
        services.game_end(game=game)

    for player in players:
        session = GameSession.objects.get(game=game, player=player)
        assert notification_outbox.kinds_for(player).count("game_scored") == 1
        notification = Notification.objects.get(recipient=player, kind="game_scored")
        assert notification.url == f"/leaderboard/games/{game.pk}/"
        assert notification.data["total"] == session.total_score
        assert notification.data["chapters"] == session.chapter_scores
        assert [c["comment"] for c in notification.data["chapters"]] == [
            c["comment"] for c in session.chapter_scores
        ] and all(c["comment"] for c in notification.data["chapters"])
        better = sum(
            1 for other in GameSession.objects.filter(game=game) if other.total_score > session.total_score
        )
        assert notification.data["rank"] == better + 1
        for chapter in session.chapter_scores:
            assert f"{chapter['title']}: {chapter['score']}" in notification.body
