"""Events and registrations: data, constraints and indexes. The rules live in ``services.py``."""

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone


class EventStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    CANCELLED = "cancelled", "Cancelled"


class Event(models.Model):
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    location = models.CharField(max_length=200)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    capacity = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    status = models.CharField(
        max_length=16, choices=EventStatus.choices, default=EventStatus.SCHEDULED
    )
    organizer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="organized_events"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    # Capacity warnings: the highest threshold (percent) currently crossed, and how many warnings
    # were sent, so a threshold crossed again after falling below gets a fresh dedupe key.
    capacity_warning_level = models.PositiveSmallIntegerField(default=0)
    capacity_warnings_sent = models.PositiveIntegerField(default=0)

    # Update collapse: changes made since the last "event updated" notification while its window
    # is open, as {field: {"old": ..., "new": ...}}; sent as one notification when it closes.
    update_window_ends_at = models.DateTimeField(null=True, blank=True)
    pending_changes = models.JSONField(default=dict, blank=True)
    updates_sent = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["starts_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")),
                name="event_ends_after_start",
                violation_error_message="The event must end after it starts.",
            ),
            models.CheckConstraint(
                condition=Q(capacity__gte=1),
                name="event_capacity_positive",
                violation_error_message="An event needs at least one place.",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "starts_at"], name="event_status_start"),
            models.Index(fields=["ends_at"], name="event_ends_at"),
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("events:detail", args=[self.pk])

    @property
    def is_cancelled(self) -> bool:
        return self.status == EventStatus.CANCELLED


class RegistrationStatus(models.TextChoices):
    CONFIRMED = "confirmed", "Confirmed"
    WAITLISTED = "waitlisted", "On the waiting list"
    CANCELLED = "cancelled", "Left"


ACTIVE_STATUSES = (RegistrationStatus.CONFIRMED, RegistrationStatus.WAITLISTED)


class Registration(models.Model):
    """One user's place (or waiting-list spot) at one event.

    The waiting list runs by ``joined_at``, then id.
    """

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="registrations")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="event_registrations"
    )
    status = models.CharField(max_length=16, choices=RegistrationStatus.choices)
    # Set on every (re)join: someone who leaves and comes back goes to the end of the queue.
    joined_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["joined_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "event"], name="registration_unique_user_event"
            ),
        ]
        indexes = [
            models.Index(fields=["event", "status", "joined_at"], name="registration_queue"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} @ {self.event_id}: {self.status}"


class ReminderWhich(models.TextChoices):
    DAY_BEFORE = "24h", "24 hours before"
    HOUR_BEFORE = "1h", "1 hour before"


class ReminderSent(models.Model):
    """Marks one reminder as sent, so a second beat run or a retried batch sends nothing.

    Keyed by the start time it announced: moving the event re-arms its reminders.
    """

    registration = models.ForeignKey(
        Registration, on_delete=models.CASCADE, related_name="reminders_sent"
    )
    which = models.CharField(max_length=4, choices=ReminderWhich.choices)
    starts_at = models.DateTimeField()
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["registration", "which", "starts_at"], name="reminder_sent_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.which} reminder for registration {self.registration_id}"
