from datetime import timedelta

import factory
from django.utils import timezone

from events.models import Event
from tests.factories import UserFactory


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
