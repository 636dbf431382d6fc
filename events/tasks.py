"""Celery tasks of the events app: take ids, call a service. All idempotent."""

from datetime import datetime

from celery import shared_task

from events import live, services


@shared_task(name="events.send_due_reminders", ignore_result=True)
def send_due_reminders() -> int:
    """Run by beat every minute: due reminders, and update windows whose task was lost."""
    reminded = services.reminders_send_due()
    services.event_updates_flush_overdue()
    return reminded


@shared_task(name="events.flush_event_update", ignore_result=True)
def flush_event_update(event_id: int, window_ends_at: str | None = None) -> int:
    """Send the edits merged during one collapse window as a single update."""
    window = datetime.fromisoformat(window_ends_at) if window_ends_at else None
    return services.event_update_flush(event_id=event_id, window_ends_at=window)


@shared_task(name="events.broadcast_event_change", ignore_result=True)
def broadcast_event_change(event_id: int) -> bool:
    """Tell open event pages and lists about a committed change (rendered as it is now)."""

    return live.broadcast(event_id=event_id)
