"""Provider backends for tests that need a provider to misbehave in one precise way."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.mail.backends import locmem
from django.utils import timezone

from notifications.delivery.backends.base import DeliveryBackend
from notifications.models import Channel, Delivery, Priority
from tests.delivery.factories import DeliveryFactory, NotificationFactory


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


class SecondDigestDuringSendBackend(locmem.EmailBackend):
    """While the first digest is being sent, the cache is wiped (Redis restarted), a new held
    email arrives for the same user, and a second beat starts that user's digest."""

    second_outcome: list[str] = []

    def send_messages(self, messages):
        from notifications.delivery import services

        if not self.second_outcome:
            self.second_outcome.append("running")
            cache.clear()
            [message] = messages
            user = get_user_model().objects.get(email=message.to[0])
            held = Delivery.objects.filter(notification__recipient=user).first()
            late = DeliveryFactory(
                channel=Channel.EMAIL,
                notification=NotificationFactory(recipient=user, priority=Priority.LOW),
                next_attempt_at=timezone.now() - timedelta(seconds=1),
            )
            assert late.pk != held.pk
            self.second_outcome[0] = services.digest_send(user_id=user.pk)
        return super().send_messages(messages)
