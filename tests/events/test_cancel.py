import pytest
from django.core.exceptions import ValidationError

from events import services
from events.models import Event, EventStatus
from tests.events.factories import EventFactory
from tests.events.helpers import received, recipients_of

pytestmark = pytest.mark.django_db


def test_cancelling_tells_everyone_registered_or_waitlisted_urgently(
    organizer, make_users, django_capture_on_commit_callbacks, notification_outbox
):
    event = EventFactory(organizer=organizer, capacity=1)
    alice, bob, carol, dave = make_users("alice", "bob", "carol", "dave")
    with django_capture_on_commit_callbacks(execute=True):
        services.registration_create(user=alice, event=event)
        services.registration_create(user=bob, event=event)  # waitlisted
        services.registration_create(user=carol, event=event)
        services.registration_cancel(user=carol, event=event)  # left: not told
    with django_capture_on_commit_callbacks(execute=True):
        services.event_cancel(event=event, actor=organizer)
        services.event_cancel(event=event, actor=organizer)  # a double click
    assert Event.objects.get(pk=event.pk).status == EventStatus.CANCELLED
    assert recipients_of("event_cancelled") == {"alice", "bob"}
    [alert] = received(alice, "event_cancelled")
    assert alert.priority == "urgent"
    assert "email" in notification_outbox.channels_for(alice, kind="event_cancelled")
    assert notification_outbox.kinds_for(dave) == []


def test_a_cancelled_event_cannot_be_edited(event, organizer):
    services.event_cancel(event=event, actor=organizer)
    with pytest.raises(ValidationError, match="cancelled"):
        services.event_update(event=event, actor=organizer, changes={"location": "Elsewhere"})
