import factory

from notifications.models import ContactPoint, PushSubscription
from tests.factories import UserFactory


class PushSubscriptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PushSubscription

    user = factory.SubFactory(UserFactory)
    endpoint = factory.Sequence(lambda n: f"https://push.example.org/send/{n}")
    p256dh = (
        "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM"
    )
    auth = "tBHItJI5svbpez7KI4CCXg"


class ContactPointFactory(factory.django.DjangoModelFactory):
    """A confirmed phone number (``phone_verified=""`` for an unconfirmed one); updates the
    contact point the user already has (users come with a confirmed email)."""

    class Meta:
        model = ContactPoint

    user = factory.SubFactory(UserFactory)
    phone = factory.Sequence(lambda n: f"+4915100{n:05d}")
    phone_verified = factory.LazyAttribute(lambda contact: contact.phone)

    @classmethod
    def _create(cls, model_class, *args, user, **kwargs):
        contact, _ = model_class.objects.update_or_create(user=user, defaults=kwargs)
        return contact
