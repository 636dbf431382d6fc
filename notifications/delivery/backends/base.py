from __future__ import annotations


class DeliveryBackend:
    """Base of every provider backend. ``provider`` names the circuit breaker it trips."""

    channel: str = ""

    @property
    def provider(self) -> str:
        return f"{self.channel}:{type(self).__name__}"

    def provider_for(self, address: str) -> str:
        """The breaker for one address; backends that reach several providers override it."""
        return self.provider

    def send(self, message) -> str:  # pragma: no cover - interface
        """Hand the message to the provider; return its message id (may be empty)."""
        raise NotImplementedError

    def close(self) -> None:
        """Release connections kept open across the sends of one batch."""
