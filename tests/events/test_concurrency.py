"""Many people clicking "Register" at the same moment, each on its own PostgreSQL connection."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from events import services
from events.models import Registration, RegistrationStatus
from notifications.models import Notification
from tests.events.factories import EventFactory, UserFactory

PEOPLE = 50
PLACES = 10


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_registrations_fill_ten_places_and_queue_the_rest_in_order():
    event = EventFactory(capacity=PLACES)
    people = [UserFactory(username=f"rush{i:02d}") for i in range(PEOPLE)]
    start = threading.Barrier(PEOPLE)

    def register(user):
        try:
            connection.ensure_connection()  # each thread has its own connection
            start.wait(timeout=30)
            return services.registration_create(user=user, event=event).pk
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=PEOPLE) as pool:
        returned = list(pool.map(register, people))

    registrations = list(Registration.objects.filter(event=event).order_by("pk"))
    assert len(registrations) == PEOPLE == len(set(returned))
    assert {r.user_id for r in registrations} == {user.pk for user in people}
    # Rows were inserted under the event lock, so id order is the order the lock was granted:
    # the first ten arrivals are confirmed, the other forty queue behind them in that order.
    statuses = [r.status for r in registrations]
    assert statuses == [RegistrationStatus.CONFIRMED] * PLACES + [
        RegistrationStatus.WAITLISTED
    ] * (PEOPLE - PLACES)
    joined = [r.joined_at for r in registrations]
    assert joined == sorted(joined)
    waitlist = Registration.objects.filter(event=event, status=RegistrationStatus.WAITLISTED)
    assert list(waitlist.order_by("joined_at", "pk").values_list("pk", flat=True)) == [
        r.pk for r in registrations[PLACES:]
    ]
    # One notification per person, of the right kind; the organizer hears "full" once.
    kinds = dict(
        Notification.objects.filter(recipient__in=people).values_list("recipient_id", "kind")
    )
    assert Notification.objects.filter(recipient__in=people).count() == PEOPLE
    assert sorted(kinds.values()).count("registration_confirmed") == PLACES
    assert sorted(kinds.values()).count("waitlist_joined") == PEOPLE - PLACES
    warnings = Notification.objects.filter(recipient=event.organizer, kind="capacity_warning")
    assert sorted(w.data["threshold"] for w in warnings) == [80, 90, 100]
