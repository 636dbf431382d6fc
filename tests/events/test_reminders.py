import threading
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from config.celery import app
from events import services
from events.models import Event, ReminderSent
from notifications.models import Notification
from tests.events.factories import EventFactory, UserFactory
from tests.events.helpers import received, recipients_of

User = get_user_model()


def starting_in(delta, **kwargs):
    starts_at = timezone.now() + delta
    return EventFactory(starts_at=starts_at, ends_at=starts_at + timedelta(hours=2), **kwargs)


def day_before(event):
    """A moment inside the day before the event (its 24-hour reminder is due)."""
    return event.starts_at - timedelta(hours=23)


@pytest.fixture
def tomorrow_event(db, make_users):
    """Starts in 30 hours: alice and bob confirmed, carol waitlisted, dave left."""
    event = starting_in(timedelta(hours=30), capacity=2)
    alice, bob, carol, dave = make_users("alice", "bob", "carol", "dave")
    for user in (alice, dave, bob, carol):
        services.registration_create(user=user, event=event)
    services.registration_cancel(user=dave, event=event)  # bob is promoted, carol waits
    return event


@pytest.mark.django_db
def test_day_before_reminder_goes_once_to_confirmed_attendees_even_when_beat_runs_twice(
    tomorrow_event, django_capture_on_commit_callbacks
):
    assert services.reminders_send_due() == 0  # not due yet
    with django_capture_on_commit_callbacks(execute=True):
        assert services.reminders_send_due(now=day_before(tomorrow_event)) == 2
        assert services.reminders_send_due(now=day_before(tomorrow_event)) == 0
    assert recipients_of("event_reminder") == {"alice", "bob"}
    assert ReminderSent.objects.filter(which="24h").count() == 2
    [reminder] = received(User.objects.get(username="alice"), "event_reminder")
    assert reminder.data["which"] == "24h"
    assert reminder.title == f"{tomorrow_event.title} starts in 23 hours"


@pytest.mark.django_db
def test_hour_before_reminder_follows_the_day_before_one(tomorrow_event):
    services.reminders_send_due(now=day_before(tomorrow_event))
    an_hour_before = tomorrow_event.starts_at - timedelta(minutes=59)
    assert services.reminders_send_due(now=an_hour_before) == 2
    assert services.reminders_send_due(now=an_hour_before + timedelta(minutes=1)) == 0
    sent = sorted(ReminderSent.objects.values_list("which", flat=True))
    assert sent == ["1h", "1h", "24h", "24h"]


@pytest.mark.django_db
def test_registering_inside_the_last_day_gets_only_the_hour_reminder(make_users):
    event = starting_in(timedelta(hours=20))
    (alice,) = make_users("alice")
    services.registration_create(user=alice, event=event)
    assert services.reminders_send_due() == 0
    assert services.reminders_send_due(now=event.starts_at - timedelta(minutes=30)) == 1
    assert list(ReminderSent.objects.values_list("which", flat=True)) == ["1h"]


@pytest.mark.django_db
def test_no_reminder_for_a_cancelled_event_or_one_not_yet_due(make_users):
    cancelled = starting_in(timedelta(minutes=30))
    later = starting_in(timedelta(hours=50))
    (alice,) = make_users("alice")
    for event in (cancelled, later):
        services.registration_create(user=alice, event=event)
    services.event_cancel(event=cancelled, actor=cancelled.organizer)
    assert services.reminders_send_due() == 0
    assert recipients_of("event_reminder") == set()


@pytest.mark.django_db
def test_moving_the_event_re_arms_its_reminders(tomorrow_event):
    services.reminders_send_due(now=day_before(tomorrow_event))
    moved = tomorrow_event.starts_at + timedelta(hours=2)
    services.event_update(
        event=tomorrow_event,
        actor=tomorrow_event.organizer,
        changes={"starts_at": moved, "ends_at": moved + timedelta(hours=2)},
    )
    assert services.reminders_send_due(now=moved - timedelta(hours=23)) == 2
    assert ReminderSent.objects.filter(which="24h").count() == 4


class WorkerDied(Exception):
    pass


@pytest.mark.django_db
def test_a_batch_that_dies_before_commit_is_sent_whole_by_the_next_run(tomorrow_event):
    with pytest.raises(WorkerDied):
        with transaction.atomic():
            services.reminders_send_due(now=day_before(tomorrow_event))
            raise WorkerDied  # the process dies before the batch commits
    assert recipients_of("event_reminder") == set()
    assert ReminderSent.objects.count() == 0
    assert services.reminders_send_due(now=day_before(tomorrow_event)) == 2
    assert recipients_of("event_reminder") == {"alice", "bob"}


@pytest.mark.django_db(transaction=True)
def test_two_beat_runs_at_the_same_moment_send_each_reminder_once():
    people = [UserFactory(username=f"p{i}") for i in range(6)]
    events = [starting_in(timedelta(minutes=m), capacity=10) for m in (20, 50)]
    for event in events:
        for person in people:
            services.registration_create(user=person, event=event)
    start = threading.Barrier(2)
    counts = []

    def beat():
        try:
            start.wait(timeout=10)
            counts.append(services.reminders_send_due())
        finally:
            connection.close()

    threads = [threading.Thread(target=beat) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(counts) == 12
    assert ReminderSent.objects.count() == 12
    assert Notification.objects.filter(kind="event_reminder").count() == 12


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_an_event_held_by_another_run_is_skipped_then_sent_by_the_next_run():
    people = [UserFactory(username=f"p{i}") for i in range(3)]
    held, free = starting_in(timedelta(minutes=20)), starting_in(timedelta(minutes=40))
    for event in (held, free):
        for person in people:
            services.registration_create(user=person, event=event)
    locked, release = threading.Event(), threading.Event()

    def other_run_holds_the_event():
        try:
            with transaction.atomic():
                Event.objects.select_for_update().get(pk=held.pk)
                locked.set()
                release.wait(timeout=10)
        finally:
            connection.close()

    holder = threading.Thread(target=other_run_holds_the_event)
    holder.start()
    locked.wait(timeout=10)
    try:
        assert services.reminders_send_due() == 3  # only the free event: no waiting on a lock
    finally:
        release.set()
        holder.join()
    assert services.reminders_send_due() == 3
    assert services.reminders_send_due() == 0
    assert ReminderSent.objects.count() == 6


@pytest.mark.django_db
def test_beat_runs_the_reminder_task_every_minute():
    task = PeriodicTask.objects.get(task="events.send_due_reminders")
    assert task.enabled and task.interval.every == 1 and task.interval.period == "minutes"
    assert "events.send_due_reminders" in app.tasks


@pytest.mark.django_db
def test_a_reminder_batch_costs_the_same_queries_for_3_or_30_attendees(django_assert_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def event_with(attendees: int):
        event = starting_in(timedelta(minutes=30), capacity=attendees)
        for i in range(attendees):
            services.registration_create(user=UserFactory(username=f"e{event.pk}u{i}"), event=event)
        return event

    event_with(3)
    with CaptureQueriesContext(connection) as small:
        assert services.reminders_send_due() == 3
    event_with(30)
    with django_assert_num_queries(len(small)):
        assert services.reminders_send_due() == 30


@pytest.mark.django_db
def test_migrations_create_the_organizers_group_allowed_to_add_events():
    from django.contrib.auth.models import Group

    group = Group.objects.get(name="Organizers")
    assert list(group.permissions.values_list("codename", flat=True)) == ["add_event"]
