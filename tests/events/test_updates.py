from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from events import services
from events.models import Event
from events.tasks import flush_event_update, send_due_reminders
from tests.events.helpers import received, recipients_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def audience(event, make_users, django_capture_on_commit_callbacks):
    """alice confirmed, bob waitlisted, carol following, dave unrelated."""
    Event.objects.filter(pk=event.pk).update(capacity=1)
    alice, bob, carol, dave = make_users("alice", "bob", "carol", "dave")
    with django_capture_on_commit_callbacks(execute=True):
        services.registration_create(user=alice, event=event)
        services.registration_create(user=bob, event=event)
        services.event_follow(user=carol, event=event)
    return alice, bob, carol, dave


def edit(event, actor, callbacks, **changes):
    with callbacks(execute=True):
        return services.event_update(event=event, actor=actor, changes=changes)


def test_an_edit_tells_registrants_and_followers_what_changed(
    event, organizer, audience, django_capture_on_commit_callbacks, notification_outbox
):
    alice, bob, carol, dave = audience
    new_start = event.starts_at + timedelta(days=1)
    edit(event, organizer, django_capture_on_commit_callbacks,
         starts_at=new_start, ends_at=new_start + timedelta(hours=2), location="Room B")
    assert recipients_of("event_updated") == {"alice", "bob", "carol"}
    [update] = received(alice, "event_updated")
    texts = [change["text"] for change in update.data["changes"]]
    assert texts[0].startswith("Starts: ") and " → " in texts[0]
    assert "Place: Room A → Room B" in texts
    assert "Room A → Room B" in update.body or "Room A → Room B" in update.title
    assert notification_outbox.kinds_for(alice) == ["event_updated"]
    assert notification_outbox.kinds_for(dave) == []


def test_a_description_edit_says_details_changed(
    event, organizer, audience, django_capture_on_commit_callbacks
):
    edit(event, organizer, django_capture_on_commit_callbacks, description="New agenda")
    [update] = received(audience[0], "event_updated")
    assert update.data["summary"] == "Details changed"


def test_an_edit_that_changes_nothing_sends_nothing(
    event, organizer, audience, django_capture_on_commit_callbacks
):
    edit(event, organizer, django_capture_on_commit_callbacks, location="Room A", capacity=1)
    assert recipients_of("event_updated") == set()


def test_capacity_only_edit_is_not_announced_as_an_update(
    event, organizer, audience, django_capture_on_commit_callbacks
):
    edit(event, organizer, django_capture_on_commit_callbacks, capacity=5)
    assert recipients_of("event_updated") == set()


def test_rapid_edits_collapse_into_one_follow_up_update(
    event, organizer, audience, django_capture_on_commit_callbacks
):
    alice = audience[0]
    first_start = event.starts_at
    edit(event, organizer, django_capture_on_commit_callbacks, location="Room B")
    assert len(received(alice, "event_updated")) == 1  # the first edit is told at once

    # Three more edits inside the window: the flush task waits for the window to close.
    with django_capture_on_commit_callbacks(execute=False) as window_closes:
        services.event_update(event=event, actor=organizer, changes={"location": "Room C"})
        services.event_update(event=event, actor=organizer, changes={"location": "Hall D"})
        services.event_update(
            event=event,
            actor=organizer,
            changes={"starts_at": first_start + timedelta(hours=1),
                     "ends_at": first_start + timedelta(hours=3)},
        )
    assert len(received(alice, "event_updated")) == 1
    for callback in window_closes:  # the countdown elapses: the task runs
        callback()

    updates = received(alice, "event_updated")
    assert len(updates) == 2
    labels = {change["label"]: change for change in updates[1].data["changes"]}
    assert labels["Place"]["text"] == "Place: Room B → Hall D"
    assert set(labels) == {"Starts", "Ends", "Place"}
    assert recipients_of("event_updated", dedupe_key=updates[1].dedupe_key) == {
        "alice", "bob", "carol"
    }


def test_the_flush_task_is_idempotent_and_ignores_other_windows(
    event, organizer, audience, django_capture_on_commit_callbacks
):
    alice = audience[0]
    edit(event, organizer, django_capture_on_commit_callbacks, location="Room B")
    with django_capture_on_commit_callbacks(execute=False):
        services.event_update(event=event, actor=organizer, changes={"location": "Room C"})
    window = Event.objects.get(pk=event.pk).update_window_ends_at.isoformat()
    stale_window = (timezone.now() - timedelta(hours=1)).isoformat()
    assert flush_event_update.delay(event.pk, stale_window).get() == 0
    with django_capture_on_commit_callbacks(execute=True):
        flush_event_update.delay(event.pk, window)
        flush_event_update.delay(event.pk, window)
    assert len(received(alice, "event_updated")) == 2


def test_edits_reverted_inside_the_window_send_no_follow_up(
    event, organizer, audience, django_capture_on_commit_callbacks
):
    edit(event, organizer, django_capture_on_commit_callbacks, location="Room B")
    with django_capture_on_commit_callbacks(execute=True):
        services.event_update(event=event, actor=organizer, changes={"location": "Room C"})
        services.event_update(event=event, actor=organizer, changes={"location": "Room B"})
        services.event_update_flush(event_id=event.pk)
    assert len(received(audience[0], "event_updated")) == 1


def test_an_edit_after_the_window_closed_is_told_at_once(
    event, organizer, audience, django_capture_on_commit_callbacks
):
    edit(event, organizer, django_capture_on_commit_callbacks, location="Room B")
    Event.objects.filter(pk=event.pk).update(
        update_window_ends_at=timezone.now() - timedelta(seconds=1)
    )
    edit(event, organizer, django_capture_on_commit_callbacks, location="Room C")
    assert [n.data["summary"] for n in received(audience[0], "event_updated")] == [
        "Place: Room A → Room B",
        "Place: Room B → Room C",
    ]


def test_a_window_whose_task_was_lost_is_flushed_by_the_minute_beat(
    event, organizer, audience, django_capture_on_commit_callbacks
):
    edit(event, organizer, django_capture_on_commit_callbacks, location="Room B")
    with django_capture_on_commit_callbacks(execute=False):  # the task is never run
        services.event_update(event=event, actor=organizer, changes={"location": "Room C"})
    send_due_reminders.delay()
    assert len(received(audience[0], "event_updated")) == 1  # the window is still open
    Event.objects.filter(pk=event.pk).update(
        update_window_ends_at=timezone.now() - timedelta(minutes=5)
    )
    with django_capture_on_commit_callbacks(execute=True):
        send_due_reminders.delay()
    assert received(audience[0], "event_updated")[-1].data["summary"] == "Place: Room B → Room C"


def test_collapse_can_be_turned_off(
    event, organizer, audience, settings, django_capture_on_commit_callbacks
):
    settings.EVENT_UPDATE_COLLAPSE_SECONDS = 0
    for place in ("Room B", "Room C", "Room D"):
        edit(event, organizer, django_capture_on_commit_callbacks, location=place)
    assert len(received(audience[0], "event_updated")) == 3


def test_the_editor_is_not_told_about_their_own_edit(
    event, make_users, audience, django_capture_on_commit_callbacks
):
    (staff,) = make_users("staffer")
    alice = audience[0]
    services.event_follow(user=staff, event=event)
    edit(event, staff, django_capture_on_commit_callbacks, location="Room B")
    assert received(staff, "event_updated") == []
    assert len(received(alice, "event_updated")) == 1


@pytest.mark.parametrize(
    "changes, field, message",
    [
        ({"ends_at_offset": -1}, "ends_at", "must end after it starts"),
        ({"starts_at_past": True}, "starts_at", "must be in the future"),
        ({"capacity": 0}, "capacity", "at least one place"),
    ],
)
def test_invalid_edits_are_refused_and_change_nothing(event, organizer, changes, field, message):
    values = {}
    if "ends_at_offset" in changes:
        values["ends_at"] = event.starts_at + timedelta(hours=changes["ends_at_offset"])
    if "starts_at_past" in changes:
        values["starts_at"] = timezone.now() - timedelta(hours=1)
    if "capacity" in changes:
        values["capacity"] = changes["capacity"]
    with pytest.raises(ValidationError) as error:
        services.event_update(event=event, actor=organizer, changes=values)
    assert message in " ".join(error.value.message_dict[field])
    fresh = Event.objects.get(pk=event.pk)
    assert (fresh.starts_at, fresh.ends_at, fresh.capacity) == (
        event.starts_at, event.ends_at, event.capacity
    )


def test_capacity_cannot_drop_below_the_confirmed_count(
    event, organizer, make_users, django_capture_on_commit_callbacks
):
    for user in make_users("alice", "bob", "carol"):
        services.registration_create(user=user, event=event)
    with pytest.raises(ValidationError, match="3 people are already confirmed"):
        services.event_update(event=event, actor=organizer, changes={"capacity": 2})
    assert Event.objects.get(pk=event.pk).capacity == 10


def test_an_unannounced_capacity_edit_does_not_hold_back_the_next_real_change(
    event, organizer, audience, django_capture_on_commit_callbacks
):
    edit(event, organizer, django_capture_on_commit_callbacks, capacity=5)
    with django_capture_on_commit_callbacks(execute=False):  # no flush task runs
        services.event_update(event=event, actor=organizer, changes={"location": "Room B"})
    assert [n.data["summary"] for n in received(audience[0], "event_updated")] == [
        "Place: Room A → Room B"
    ]
