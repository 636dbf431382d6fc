import pytest

from events import services
from events.models import Event
from tests.events.factories import EventFactory
from tests.events.helpers import received

pytestmark = pytest.mark.django_db


@pytest.fixture
def ten_places(organizer):
    return EventFactory(organizer=organizer, capacity=10)


def thresholds(user):
    return [n.data["threshold"] for n in received(user, "capacity_warning")]


def test_organizer_and_followers_are_warned_once_at_80_90_and_full(
    ten_places, organizer, make_users, django_capture_on_commit_callbacks
):
    (watcher,) = make_users("watcher")
    services.event_follow(user=watcher, event=ten_places)
    people = make_users(*[f"guest{i}" for i in range(12)])
    with django_capture_on_commit_callbacks(execute=True):
        for person in people:
            services.registration_create(user=person, event=ten_places)
    assert thresholds(organizer) == [80, 90, 100]
    assert thresholds(watcher) == [80, 90, 100]
    assert received(people[0], "capacity_warning") == []  # attendees are not followers of these


def test_a_threshold_fires_again_only_after_falling_below_it(
    ten_places, organizer, make_users, django_capture_on_commit_callbacks
):
    people = make_users(*[f"guest{i}" for i in range(9)])
    with django_capture_on_commit_callbacks(execute=True):
        for person in people:
            services.registration_create(user=person, event=ten_places)  # 90%
        services.registration_cancel(user=people[0], event=ten_places)  # 80%: 90 re-armed
        services.registration_create(user=people[0], event=ten_places)  # 90% again
        services.registration_cancel(user=people[1], event=ten_places)  # 80%
        services.registration_cancel(user=people[2], event=ten_places)  # 70%: 80 re-armed
        services.registration_create(user=people[1], event=ten_places)  # 80% again
    assert thresholds(organizer) == [80, 90, 90, 80]
    assert Event.objects.get(pk=ten_places.pk).capacity_warning_level == 80


def test_raising_capacity_re_arms_and_lowering_it_warns(
    ten_places, organizer, make_users, django_capture_on_commit_callbacks
):
    people = make_users(*[f"guest{i}" for i in range(8)])
    with django_capture_on_commit_callbacks(execute=True):
        for person in people:
            services.registration_create(user=person, event=ten_places)  # 80%
        services.event_update(event=ten_places, actor=organizer, changes={"capacity": 20})  # 40%
        services.event_update(event=ten_places, actor=organizer, changes={"capacity": 8})  # full
    assert thresholds(organizer) == [80, 100]
    [full] = received(organizer, "capacity_warning")[1:]
    assert full.data["is_full"] and full.data["places_left"] == 0
    assert full.title == f"{ten_places.title} is full"
    assert received(organizer, "capacity_warning")[0].title == f"{ten_places.title} is 80% full"
