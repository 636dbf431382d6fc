"""Delivery rows as notify() leaves them; users and contact points come from the pipeline's."""

import factory
from django.utils import timezone

from notifications.models import Channel, Delivery, DeliveryStatus, Notification, Priority
from tests.pipeline.factories import ContactPointFactory, PushSubscriptionFactory, UserFactory

__all__ = [
    "ContactPointFactory",
    "sms_delivery",
    "DeliveryFactory",
    "NotificationFactory",
    "PushSubscriptionFactory",
    "UserFactory",
]


class NotificationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Notification

    recipient = factory.SubFactory(UserFactory)
    kind = "event_updated"
    priority = Priority.NORMAL
    title = factory.Sequence(lambda n: f"Board game night #{n} moved to 20:00")
    body = "The venue changed to the library hall."
    url = "/events/12/"
    data = factory.LazyFunction(lambda: {"changes": ["starts_at"]})
    dedupe_key = factory.Sequence(lambda n: f"test:{n}")


class DeliveryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Delivery

    notification = factory.SubFactory(NotificationFactory)
    channel = Channel.EMAIL
    status = DeliveryStatus.PENDING
    next_attempt_at = factory.LazyFunction(timezone.now)


def sms_delivery(phone: str = "+4915112345678", **notification_fields) -> Delivery:
    """A pending SMS delivery to a recipient who has a phone number."""
    notification = NotificationFactory(**notification_fields)
    ContactPointFactory(user=notification.recipient, phone=phone)
    return DeliveryFactory(notification=notification, channel=Channel.SMS)
