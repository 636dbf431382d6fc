"""Errors a delivery backend raises; the task decides from the type what happens next."""


class DeliveryError(Exception):
    """A failure worth retrying (provider down, timeout, 5xx, 429). Counts against the breaker."""


class PermanentDeliveryError(DeliveryError):
    """A failure that no retry can fix (no contact point, rejected address): the row goes dead.

    The provider answered, so it does not count against the provider's circuit breaker.
    """


class CircuitOpen(Exception):
    """Every provider this message could go to is behind an open breaker: try again later.

    Not the message's fault, so it costs no attempt.
    """

    def __init__(self, provider: str, retry_at: float):
        super().__init__(f"{provider} circuit open")
        self.provider = provider
        self.retry_at = retry_at
