"""External delivery (email, web push, SMS): the pipeline's hand-off point.

``notify()`` calls ``enqueue_deliveries`` after commit with the ids of the Delivery rows that
are due now; rows deferred by quiet hours wait for the every-minute sweep
(``tasks.enqueue_due_deliveries``). Backends: ``notifications.delivery.backends``; retries, breaker and digest:
``notifications.delivery.services``; tasks: ``notifications.delivery.tasks``.
"""


def enqueue_deliveries(delivery_ids: list[int], *, priority: str) -> None:
    """Queue sending of these Delivery rows. Call after commit; safe to call twice.

    Low-priority email waits for the digest window; everything else goes to the priority's queue.
    """
    from notifications.delivery.services import deliveries_dispatch, deliveries_hold_for_digest

    if not delivery_ids:
        return
    ids = list(delivery_ids)
    if priority == "low":
        held = deliveries_hold_for_digest(delivery_ids=ids)
        ids = [delivery_id for delivery_id in ids if delivery_id not in held]
    deliveries_dispatch(delivery_ids=ids, priority=priority)
