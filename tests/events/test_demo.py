from datetime import timedelta

import pytest
from django.utils import timezone

from config.management.commands.load_demo_data import ensure_demo_users
from events import demo, services
from events.models import Event, Registration, RegistrationStatus
from tests.events.helpers import recipients_of

pytestmark = pytest.mark.django_db


def test_demo_is_idempotent_and_sets_up_organizer_and_attendees():
    users = ensure_demo_users()
    notes = demo.load(users=users)
    demo.load(users=users)
    assert len(notes) == Event.objects.count() == 3
    assert users["organizer"].has_perm("events.add_event")
    for username in ("alice", "bob"):
        assert Registration.objects.filter(
            user__username=username, status=RegistrationStatus.CONFIRMED
        ).count() == 3
    assert Registration.objects.count() == 6
    assert recipients_of("event_updated") == set()  # a second load moved nothing


def test_demo_reminders_and_capacity_warning_arrive_within_minutes():
    users = ensure_demo_users()
    demo.load(users=users)
    assert services.reminders_send_due() == 0
    in_four_minutes = timezone.now() + timedelta(minutes=4)
    # The hour-before reminder of one event and the day-before one of another, to alice and bob.
    assert services.reminders_send_due(now=in_four_minutes) == 4
    workshop = Event.objects.get(title="Django Channels workshop")
    services.registration_create(user=users["admin"], event=workshop)
    assert recipients_of("capacity_warning") == {"organizer"}


def test_a_later_load_moves_past_demo_events_forward():
    users = ensure_demo_users()
    demo.load(users=users)
    coffee = Event.objects.get(title="Coffee with the team")
    Event.objects.filter(pk=coffee.pk).update(
        starts_at=timezone.now() + timedelta(minutes=10),
        ends_at=timezone.now() + timedelta(minutes=70),
    )
    demo.load(users=users)
    coffee.refresh_from_db()
    assert coffee.starts_at > timezone.now() + timedelta(minutes=61)
    assert recipients_of("event_updated") == {"alice", "bob"}
