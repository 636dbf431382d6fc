"""Provider backends for tests that need a provider to misbehave in one precise way."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from notifications.delivery.backends.base import DeliveryBackend
from notifications.models import Delivery


class TakeoverSmsBackend(DeliveryBackend):
    """The first send outlives its lease: while it is "on the wire", the lease runs out and a
    second worker claims and sends the same row; then the first send returns."""

    channel = "sms"
    sent: list[str] = []

    def send(self, message) -> str:
        from notifications.delivery import services

        worker = "worker-a" if not self.sent else "worker-b"
        self.sent.append(worker)
        if worker == "worker-a":
            delivery_id = Delivery.objects.get(notification_id=message.notification_ids[0]).pk
            Delivery.objects.filter(pk=delivery_id).update(
                next_attempt_at=timezone.now() - timedelta(seconds=1)
            )
            assert services.delivery_send(delivery_id=delivery_id) == services.SENT
        return f"{worker}-message"


class MisconfiguredSmsBackend(DeliveryBackend):
    """A backend that fails before any provider call (as a bad setting or import would)."""

    channel = "sms"
    sent: list[str] = []

    @property
    def provider(self) -> str:
        raise RuntimeError("SMS provider host is not configured")

    def send(self, message) -> str:  # pragma: no cover - never reached
        self.sent.append(message.to)
        return "never"
