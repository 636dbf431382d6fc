import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from notifications.models import (
    Channel,
    ContactPoint,
    Delivery,
    DeliveryStatus,
    Notification,
    Priority,
    PushSubscription,
)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"reader{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.django.Password("herald-pass-123")


class NotificationFactory(factory.django.DjangoModelFactory):
    """A stored notification as notify() leaves it (delivery tests start after that point)."""

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


class ContactPointFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ContactPoint

    user = factory.SubFactory(UserFactory)
    phone = "+4915112345678"


class PushSubscriptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PushSubscription

    user = factory.SubFactory(UserFactory)
    endpoint = factory.Sequence(lambda n: f"https://push.example.net/send/{n}")
    p256dh = ""
    auth = ""
