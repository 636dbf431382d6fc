"""Operational records of the platform itself (not of any domain app)."""

from django.db import models


class DeadTask(models.Model):
    """A task message that was started ``TASK_MAX_DELIVERIES`` times without ever finishing
    (its worker process died each time) and is no longer run (see ``config.redelivery``)."""

    task_id = models.CharField(max_length=255, unique=True)
    name = models.CharField(max_length=255)
    args = models.TextField(blank=True)
    kwargs = models.TextField(blank=True)
    queue = models.CharField(max_length=100, blank=True)
    starts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]

    def __str__(self) -> str:
        return f"{self.name}[{self.task_id}]"
