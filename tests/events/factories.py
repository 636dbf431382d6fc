from datetime import timedelta

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from events.models import Event


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"person{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    # Tests log in with force_login: no password hashing, which would cost ~0.3 s per user.
    password = "!unusable"


class EventFactory(factory.django.DjangoModelFactory):
    """A scheduled event three days ahead. Registrations go through the services, not here."""

    class Meta:
        model = Event

    title = factory.Sequence(lambda n: f"Meetup {n}")
    description = "Talks and pizza."
    location = "Room A"
    starts_at = factory.LazyFunction(
        lambda: (timezone.now() + timedelta(days=3)).replace(second=0, microsecond=0)
    )
    ends_at = factory.LazyAttribute(lambda event: event.starts_at + timedelta(hours=2))
    capacity = 10
    organizer = factory.SubFactory(UserFactory)
