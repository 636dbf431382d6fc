"""Celery tasks of the leaderboard: thin, idempotent, ids in, services do the work."""

from celery import shared_task

from leaderboard import live, services
from leaderboard.scorers import ScorerError


@shared_task(
    name="leaderboard.tasks.game_score_task",
    bind=True,
    autoretry_for=(ScorerError,),
    retry_backoff=5,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=8,
    acks_late=True,
)
def game_score_task(self, game_id: int) -> bool:
    """Score a game; a failing scorer is retried with backoff. Exactly once (guarded in the DB)."""
    return services.game_score(game_id=game_id)


@shared_task(name="leaderboard.tasks.leaderboard_rebuild")
def leaderboard_rebuild() -> dict:
    """Nightly (and on demand): rebuild the sorted set from the table, reporting drift."""
    return services.ranking_rebuild()


@shared_task(name="leaderboard.tasks.leaderboard_broadcast", ignore_result=True)
def leaderboard_broadcast() -> None:
    live.broadcast()


@shared_task(name="leaderboard.tasks.sweep_stuck_games", ignore_result=True)
def sweep_stuck_games() -> dict:
    """Every five minutes (beat): re-queue or fail games stuck waiting for their scores."""
    return services.games_sweep_stuck()


@shared_task(name="leaderboard.tasks.game_broadcast", ignore_result=True)
def game_broadcast(game_id: int) -> None:
    """A game changed: its open pages render it afresh. Idempotent."""
    live.game_broadcast(game_id=game_id)
