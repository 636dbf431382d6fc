"""Reads for delivery: which rows are due, and what the admin lists."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q, QuerySet

from notifications.models import Delivery, DeliveryStatus

OPEN_STATUSES = (DeliveryStatus.PENDING, DeliveryStatus.FAILED)


def due_deliveries(*, now: datetime, limit: int = 5000) -> QuerySet:
    """Rows to (re)send now: deferred by quiet hours or the digest, waiting for a retry, or
    orphaned (a worker claimed them and died, so their lease ran out; or the on-commit enqueue
    never reached the broker, so they are still unscheduled long after being created).

    Yields ``(id, channel, priority, recipient_id)`` tuples, oldest due first.
    """
    lost_before = now - timedelta(seconds=settings.DELIVERY_CLAIM_SECONDS)
    return (
        Delivery.objects.filter(status__in=OPEN_STATUSES)
        .filter(
            Q(next_attempt_at__lte=now)
            | Q(next_attempt_at__isnull=True, created_at__lte=lost_before)
        )
        # Rows created moments ago are on their way through notify()'s on-commit enqueue.
        .exclude(
            attempts=0,
            created_at__gt=now - timedelta(seconds=settings.DELIVERY_ENQUEUE_GRACE_SECONDS),
        )
        .order_by("next_attempt_at", "id")
        .values_list("id", "channel", "notification__priority", "notification__recipient_id")[
            :limit
        ]
    )
