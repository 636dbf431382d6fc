"""Celery tasks of operations: thin, idempotent."""

from celery import shared_task

from operations import alerts
from operations.broadcasts import broadcast_fan_out


@shared_task(name="operations.tasks.check_alerts", ignore_result=True)
def check_alerts() -> int:
    """Every minute (beat): open, keep or resolve alert incidents; returns how many opened."""
    return len(alerts.alerts_check())


@shared_task(name="operations.tasks.send_broadcast", ignore_result=True, acks_late=True)
def send_broadcast(broadcast_id: int) -> int:
    """Fan a broadcast out (idempotent: a redelivered task carries on where it stopped)."""
    return broadcast_fan_out(broadcast_id=broadcast_id)
