"""The collapse window through the real Redis broker and a real Celery worker (not eager):
the follow-up update really waits for the window's end (the task's ``eta``)."""

import time

import pytest

from events import services
from events.models import Event
from tests.celery_worker import real_worker, wait_for
from tests.events.helpers import received

pytestmark = pytest.mark.django_db(transaction=True)


def test_edits_inside_the_window_arrive_as_one_update_when_it_closes(
    event, organizer, make_users, settings
):
    if not settings.REDIS_URL:
        pytest.skip("needs the Redis broker (REDIS_URL)")
    settings.EVENT_UPDATE_COLLAPSE_SECONDS = 2
    (alice,) = make_users("alice")
    services.registration_create(user=alice, event=event)
    with real_worker():
        services.event_update(event=event, actor=organizer, changes={"location": "Room B"})
        started = time.monotonic()
        for place in ("Room C", "Hall D"):
            services.event_update(event=event, actor=organizer, changes={"location": place})
        time.sleep(1)
        assert [n.data["summary"] for n in received(alice, "event_updated")] == [
            "Place: Room A → Room B"
        ]
        assert wait_for(lambda: len(received(alice, "event_updated")) == 2, timeout=15)
        assert time.monotonic() - started >= 1.5  # sent when the window closed, not before
        time.sleep(0.5)
    updates = received(alice, "event_updated")
    assert [n.data["summary"] for n in updates] == [
        "Place: Room A → Room B",
        "Place: Room B → Hall D",
    ]
    assert not Event.objects.get(pk=event.pk).pending_changes
