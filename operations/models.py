"""Operations data: alert incidents and admin broadcasts."""

from django.db import models
from django.db.models import Q
from django.utils import timezone


class Incident(models.Model):
    """One stretch of time an alert condition held (a breaker open, a queue backed up...).

    At most one open incident per ``key``: the partial unique constraint is what makes a long
    incident one alert, even when two checks run at once.
    """

    key = models.CharField(max_length=200)
    summary = models.CharField(max_length=300)
    detail = models.TextField(blank=True)
    opened_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["key"], condition=Q(resolved_at__isnull=True),
                name="incident_one_open_per_key",
            ),
        ]

    def __str__(self) -> str:
        state = "open" if self.resolved_at is None else "resolved"
        return f"{self.key} ({state}): {self.summary}"
