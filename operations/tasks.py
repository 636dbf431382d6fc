"""Celery tasks of operations: thin, idempotent."""

from celery import shared_task

from operations import alerts


@shared_task(name="operations.tasks.check_alerts", ignore_result=True)
def check_alerts() -> int:
    """Every minute (beat): open, keep or resolve alert incidents; returns how many opened."""
    return len(alerts.alerts_check())
