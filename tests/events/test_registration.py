from datetime import timedelta

import pytest
from django.utils import timezone

from events import selectors, services
from events.models import Registration, RegistrationStatus
from notifications.models import topic_for
from notifications.selectors import subscribers
from tests.events.factories import EventFactory
from tests.events.helpers import received

pytestmark = pytest.mark.django_db


def register(user, event, callbacks):
    with callbacks(execute=True):
        return services.registration_create(user=user, event=event)


@pytest.fixture
def one_place_three_people(organizer, make_users, django_capture_on_commit_callbacks):
    """alice confirmed; bob then carol on the waiting list."""
    event = EventFactory(organizer=organizer, capacity=1)
    alice, bob, carol = make_users("alice", "bob", "carol")
    for user in (alice, bob, carol):
        register(user, event, django_capture_on_commit_callbacks)
    return event, alice, bob, carol


def test_registering_with_places_left_confirms_and_notifies_once(
    event, make_users, django_capture_on_commit_callbacks
):
    (alice,) = make_users("alice")
    registration = register(alice, event, django_capture_on_commit_callbacks)
    assert registration.status == RegistrationStatus.CONFIRMED
    again = register(alice, event, django_capture_on_commit_callbacks)  # a double click
    assert again.pk == registration.pk
    assert Registration.objects.filter(event=event, user=alice).count() == 1
    [confirmation] = received(alice, "registration_confirmed")
    assert confirmation.url == f"/events/{event.pk}/"
    assert confirmation.data["event_title"] == "Django meetup"


def test_registering_when_full_joins_the_waiting_list_in_order(
    one_place_three_people, django_capture_on_commit_callbacks
):
    event, alice, bob, carol = one_place_three_people
    waitlist = list(selectors.event_waitlist(event=event).values_list("user__username", flat=True))
    assert waitlist == ["bob", "carol"]
    carol_registration = Registration.objects.get(event=event, user=carol)
    assert selectors.waitlist_position(registration=carol_registration) == 2
    assert [n.data["position"] for n in received(carol, "waitlist_joined")] == [2]
    assert received(bob, "registration_confirmed") == []


def test_waitlisted_user_is_promoted_and_told_when_a_place_frees(
    one_place_three_people, django_capture_on_commit_callbacks
):
    event, alice, bob, carol = one_place_three_people
    with django_capture_on_commit_callbacks(execute=True):
        services.registration_cancel(user=alice, event=event)
    statuses = dict(
        Registration.objects.filter(event=event).values_list("user__username", "status")
    )
    assert statuses == {"alice": "cancelled", "bob": "confirmed", "carol": "waitlisted"}
    assert len(received(bob, "waitlist_promoted")) == 1
    assert received(carol, "waitlist_promoted") == []


def test_growing_capacity_promotes_the_head_of_the_waiting_list(
    organizer, make_users, django_capture_on_commit_callbacks
):
    event = EventFactory(organizer=organizer, capacity=1)
    users = make_users("alice", "bob", "carol", "dave")
    for user in users:
        register(user, event, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        services.event_update(event=event, actor=organizer, changes={"capacity": 3})
    confirmed = Registration.objects.filter(event=event, status=RegistrationStatus.CONFIRMED)
    assert sorted(confirmed.values_list("user__username", flat=True)) == ["alice", "bob", "carol"]
    assert [len(received(user, "waitlist_promoted")) for user in users] == [0, 1, 1, 0]


def test_leaving_a_waiting_list_promotes_nobody(
    one_place_three_people, django_capture_on_commit_callbacks
):
    event, alice, bob, carol = one_place_three_people
    services.registration_cancel(user=bob, event=event)
    assert list(selectors.event_waitlist(event=event).values_list("user__username", flat=True)) == [
        "carol"
    ]
    assert received(carol, "waitlist_promoted") == []


def test_rejoining_after_leaving_goes_to_the_end_of_the_queue_and_is_told_again(
    one_place_three_people, django_capture_on_commit_callbacks
):
    event, alice, bob, carol = one_place_three_people
    services.registration_cancel(user=bob, event=event)
    register(bob, event, django_capture_on_commit_callbacks)
    assert list(selectors.event_waitlist(event=event).values_list("user__username", flat=True)) == [
        "carol",
        "bob",
    ]
    assert len(received(bob, "waitlist_joined")) == 2


def test_leaving_without_a_registration_is_a_no_op(event, make_users):
    (alice,) = make_users("alice")
    assert services.registration_cancel(user=alice, event=event) is None


def test_cancelled_or_started_events_refuse_registrations(organizer, make_users):
    (alice,) = make_users("alice")
    cancelled = EventFactory(organizer=organizer)
    services.event_cancel(event=cancelled, actor=organizer)
    started = EventFactory(
        organizer=organizer,
        starts_at=timezone.now() - timedelta(minutes=5),
        ends_at=timezone.now() + timedelta(hours=1),
    )
    for event, message in ((cancelled, "cancelled"), (started, "started")):
        with pytest.raises(services.RegistrationClosed, match=message):
            services.registration_create(user=alice, event=event)
    assert not Registration.objects.filter(user=alice).exists()


def test_registering_follows_updates_and_unfollowing_is_separate(event, make_users):
    (alice,) = make_users("alice")
    services.registration_create(user=alice, event=event)
    topic = topic_for(event)
    assert alice in subscribers(topic=topic, kind="event_updated")
    assert alice not in subscribers(topic=topic, kind="capacity_warning")
    services.event_unfollow(user=alice, event=event)
    assert alice not in subscribers(topic=topic)
    assert Registration.objects.get(user=alice).status == RegistrationStatus.CONFIRMED


def test_registering_keeps_an_existing_follow_of_every_kind(event, make_users):
    (alice,) = make_users("alice")
    services.event_follow(user=alice, event=event)
    services.registration_create(user=alice, event=event)
    assert alice in subscribers(topic=topic_for(event), kind="capacity_warning")


def test_leaving_drops_the_automatic_follow_but_keeps_a_chosen_one(event, make_users):
    alice, bob = make_users("alice", "bob")
    services.event_follow(user=bob, event=event)
    for user in (alice, bob):
        services.registration_create(user=user, event=event)
        services.registration_cancel(user=user, event=event)
    followers = subscribers(topic=topic_for(event))
    assert alice not in followers
    assert bob in followers
