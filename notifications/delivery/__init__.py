"""External delivery (email, web push, SMS): the entry point the pipeline calls after commit."""


def enqueue_deliveries(delivery_ids: list[int], *, priority: str) -> None:
    """Queue the given pending Delivery rows for sending on the queue of ``priority``.

    Called by ``notifications.services.notify`` from ``transaction.on_commit`` with the rows that
    are due now (rows deferred by quiet hours wait for the every-minute re-enqueue).
    Placeholder until the delivery tasks land: it enqueues nothing.
    """
