"""Reads for the operations endpoints, the dashboard and the alerts."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from notifications.models import Delivery, DeliveryStatus


def dead_letters_since(*, since) -> int:
    """Delivery rows that became dead letters since ``since`` (their last change)."""
    return Delivery.objects.filter(status=DeliveryStatus.DEAD, updated_at__gte=since).count()


def status_snapshot() -> dict:
    """Queue depths, open sockets per web process, dead letters of the last hour, open
    breakers: what a monitor reads besides the readiness checks."""
    from notifications.delivery.breaker import breaker_states
    from operations import metrics
    from operations.queues import queue_states

    sockets = metrics.open_sockets_by_process()
    breakers = breaker_states()
    return {
        "queues": {state.name: state.as_dict() for state in queue_states()},
        "sockets": {"total": sum(sockets.values()), "by_process": sockets},
        "dead_letters_last_hour": dead_letters_since(since=timezone.now() - timedelta(hours=1)),
        "breakers_open": sorted(p for p, state in breakers.items() if state != "closed"),
    }
