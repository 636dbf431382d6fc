"""Celery tasks for external delivery: thin, take ids, call ``notifications.delivery.services``.

All of them are idempotent (see the services), so a redelivered or duplicated message is harmless.
"""

from collections import Counter

from celery import shared_task

from notifications.delivery import services


@shared_task(name="notifications.delivery.deliver", acks_late=True)
def deliver(delivery_id: int) -> str:
    return services.delivery_send(delivery_id=delivery_id)


@shared_task(name="notifications.delivery.deliver_batch", acks_late=True)
def deliver_batch(delivery_ids: list[int]) -> dict[str, int]:
    """Returns how many rows ended in each outcome (rows skipped as already handled included)."""
    outcomes = services.deliveries_send(delivery_ids=delivery_ids)
    counts = Counter(outcomes.values())
    skipped = len(set(delivery_ids)) - len(outcomes)
    if skipped:
        counts[services.SKIPPED] += skipped
    return dict(counts)


@shared_task(name="notifications.delivery.send_email_digest", acks_late=True)
def send_email_digest(user_id: int) -> str:
    return services.digest_send(user_id=user_id)


@shared_task(name="notifications.delivery.enqueue_due_deliveries")
def enqueue_due_deliveries() -> int:
    """Every minute (beat): re-queue rows deferred, backing off, or orphaned by a dead worker."""
    return services.deliveries_enqueue_due()
