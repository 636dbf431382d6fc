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


# --- the operations page ------------------------------------------------------------------------

MINUTES = 24 * 60
PERCENTILES = (0.5, 0.95, 0.99)


def _minute_index(start, minute) -> int:
    return int((minute - start).total_seconds() // 60)


def per_minute(*, now=None) -> dict:
    """Notifications and deliveries created per minute over the last 24 hours: ``start``, the
    notification counts, and the delivery counts per channel and status (1,440 values each).
    Two grouped queries."""
    from django.db.models import Count
    from django.db.models.functions import TruncMinute

    from notifications.models import Notification

    now = (now or timezone.now()).replace(second=0, microsecond=0)
    start = now - timedelta(minutes=MINUTES - 1)
    notifications = [0] * MINUTES
    for row in (
        Notification.objects.filter(created_at__gte=start)
        .annotate(minute=TruncMinute("created_at"))
        .values("minute").annotate(count=Count("id")).order_by()
    ):
        index = _minute_index(start, row["minute"])
        if 0 <= index < MINUTES:
            notifications[index] += row["count"]
    deliveries: dict[str, dict[str, list[int]]] = {}
    for row in (
        Delivery.objects.filter(created_at__gte=start)
        .annotate(minute=TruncMinute("created_at"))
        .values("minute", "channel", "status").annotate(count=Count("id")).order_by()
    ):
        index = _minute_index(start, row["minute"])
        if 0 <= index < MINUTES:
            series = deliveries.setdefault(row["channel"], {}).setdefault(
                row["status"], [0] * MINUTES
            )
            series[index] += row["count"]
    return {"start": start, "notifications": notifications, "deliveries": deliveries}


def delivery_latency_percentiles(*, since) -> dict[str, dict[str, float]]:
    """Channel → {"p50", "p95", "p99"} seconds from creation to sent, for rows sent since."""
    from django.db import connection

    if connection.vendor == "postgresql":
        table = Delivery._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT channel, percentile_cont(%s) WITHIN GROUP "  # noqa: S608 (table name)
                f"(ORDER BY EXTRACT(EPOCH FROM sent_at - created_at)) "
                f"FROM {table} WHERE status = %s AND sent_at >= %s GROUP BY channel",
                [list(PERCENTILES), DeliveryStatus.SENT, since],
            )
            rows = cursor.fetchall()
        return {
            channel: {f"p{round(q * 100)}": float(value) for q, value in zip(PERCENTILES, values)}
            for channel, values in rows
        }
    # SQLite (embedded mode): small tables, sorted in Python.
    durations: dict[str, list[float]] = {}
    for channel, created, sent in Delivery.objects.filter(
        status=DeliveryStatus.SENT, sent_at__gte=since
    ).values_list("channel", "created_at", "sent_at"):
        durations.setdefault(channel, []).append((sent - created).total_seconds())
    result = {}
    for channel, values in durations.items():
        values.sort()
        result[channel] = {
            f"p{round(q * 100)}": values[min(len(values) - 1, int(q * len(values)))]
            for q in PERCENTILES
        }
    return result


def dashboard(*, now=None) -> dict:
    """Everything the operations page shows, from the database, the broker and the metrics."""
    from notifications.delivery.breaker import breaker_states
    from operations import metrics
    from operations.models import Incident
    from operations.queues import queue_states

    now = now or timezone.now()
    day_ago = now - timedelta(hours=24)
    minutes = per_minute(now=now)
    return {
        "now": now,
        "per_minute": minutes,
        "notifications_24h": sum(minutes["notifications"]),
        "latency": delivery_latency_percentiles(since=day_ago),
        "queues": queue_states(),
        "sockets": metrics.open_sockets_by_process(),
        "dead_letters_hour": dead_letters_since(since=now - timedelta(hours=1)),
        "dead_letters_day": dead_letters_since(since=day_ago),
        "breakers": breaker_states(),
        "incidents": list(Incident.objects.filter(resolved_at__isnull=True)[:20]),
    }
