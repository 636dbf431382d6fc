"""Operations data: alert incidents and admin broadcasts."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from notifications.models import Priority


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


class Audience(models.TextChoices):
    EVERYONE = "everyone", "Everyone"
    EVENT = "event", "An event's registrants"
    GROUP = "group", "A group"


class BroadcastStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"


class Broadcast(models.Model):
    """An announcement from staff to everyone, an event's registrants or a group.

    Sent once: ``broadcast_send`` moves a draft to ``sending`` with one conditional UPDATE, and
    every notification carries the dedupe key ``broadcast:<id>``. The fan-out goes through the
    recipients in id order and stores where it got to (``last_recipient_id``) with each chunk,
    so a task that runs again carries on instead of starting over.
    """

    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    url = models.CharField(max_length=500, blank=True, help_text="Where a click leads, e.g. /events/3/")
    priority = models.CharField(
        max_length=8, choices=Priority.choices, default=Priority.NORMAL,
        help_text="Urgent shows a banner and ignores quiet hours.",
    )
    audience = models.CharField(max_length=16, choices=Audience.choices, default=Audience.EVERYONE)
    event = models.ForeignKey(
        "events.Event", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        help_text="For an event's registrants (confirmed and waiting list).",
    )
    group = models.ForeignKey(
        "auth.Group", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    status = models.CharField(
        max_length=8, choices=BroadcastStatus.choices, default=BroadcastStatus.DRAFT
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    recipients_total = models.PositiveIntegerField(default=0)
    recipients_done = models.PositiveIntegerField(default=0)
    last_recipient_id = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.title

    @property
    def dedupe_key(self) -> str:
        return f"broadcast:{self.pk}"

    @property
    def progress_percent(self) -> int:
        if not self.recipients_total:
            return 100 if self.status == BroadcastStatus.SENT else 0
        return min(100, self.recipients_done * 100 // self.recipients_total)
