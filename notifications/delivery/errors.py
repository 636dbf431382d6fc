"""Errors a delivery backend raises; the task decides from the type what happens next."""


class DeliveryError(Exception):
    """A failure worth retrying (provider down, timeout, 5xx, 429). Counts against the breaker.

    ``retry_after``: seconds the provider asked to wait (its ``Retry-After``), if it said; the
    next attempt is not sooner than that.
    """

    def __init__(self, *args, retry_after: float | None = None):
        super().__init__(*args)
        self.retry_after = retry_after


class PermanentDeliveryError(DeliveryError):
    """A failure that no retry can fix (no contact point, rejected address): the row goes dead.

    The provider answered, so it does not count against the provider's circuit breaker.
    """


class DeviceGone(PermanentDeliveryError):
    """APNs or FCM say this app token is no longer valid (uninstalled, expired): delete it."""


class CircuitOpen(Exception):
    """Every provider this message could go to is behind an open breaker: try again later.

    Not the message's fault, so it costs no attempt.
    """

    def __init__(self, provider: str, retry_at: float):
        super().__init__(f"{provider} circuit open")
        self.provider = provider
        self.retry_at = retry_at
