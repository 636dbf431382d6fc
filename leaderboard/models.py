"""Ranked games, their append-only sessions and one leaderboard entry per user.

Ranks are never stored: they are computed on read (see ``leaderboard.ranking``).
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q


class Game(models.Model):
    class Status(models.TextChoices):
        PLAYING = "playing", "Playing"
        ENDED = "ended", "Ended, waiting for scores"
        SCORED = "scored", "Scored"
        # Scoring gave up (see services.games_sweep_stuck); the admin can queue it again.
        FAILED = "failed", "Scoring failed"

    title = models.CharField(max_length=200)
    # Players in the order they joined (the through table's ids): the turn order.
    players = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="games")
    # The story as played: [{"title": str, "text": str, "answers": {"<player id>": str}}, ...];
    # a chapter written in the browser also has "author": <player id> and is that player's alone.
    chapters = models.JSONField(default=list)
    # Games started in the browser: who opened it, the story's starting point, how many
    # chapters it runs to (0 for games made whole by game_create, e.g. the demo's).
    creator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="games_created",
    )
    prompt = models.TextField(blank=True)
    chapter_count = models.PositiveSmallIntegerField(default=0)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PLAYING)
    created_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    scored_at = models.DateTimeField(null=True, blank=True)
    scoring_attempts = models.PositiveIntegerField(default=0)
    last_scoring_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status"], name="lb_game_status_idx")]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("leaderboard:game", args=[self.pk])


class GameSession(models.Model):
    """One player's scored result in one game. Append-only: the audit trail for rebuilds."""

    game = models.ForeignKey(Game, on_delete=models.PROTECT, related_name="sessions")
    player = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="game_sessions"
    )
    total_score = models.PositiveIntegerField()
    # [{"chapter": int, "title": str, "score": int, "comment": str}, ...]
    chapter_scores = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["game", "player"], name="lb_session_one_per_player"),
        ]
        indexes = [
            models.Index(fields=["player", "-created_at"], name="lb_session_player_recent_idx")
        ]

    def __str__(self) -> str:
        return f"{self.player} in {self.game}: {self.total_score}"

    def save(self, *args, **kwargs):
        # The trail is only ever appended to; corrections are new games, never edits.
        if not self._state.adding:
            raise ValueError("Game sessions are append-only.")
        super().save(*args, **kwargs)


class LeaderboardEntry(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="leaderboard_entry"
    )
    total_score = models.BigIntegerField(default=0)
    games_played = models.IntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "leaderboard entries"
        ordering = [F("total_score").desc(), "user_id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(total_score__gte=0), name="lb_entry_total_non_negative"
            ),
            models.CheckConstraint(
                condition=Q(games_played__gte=0), name="lb_entry_games_non_negative"
            ),
        ]
        indexes = [
            # Serves the top of the board, "around me" and COUNT(*) WHERE total > x.
            models.Index(fields=["-total_score", "user"], name="lb_entry_total_desc_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.user}: {self.total_score}"
