import pytest

from events import services
from tests.events.factories import EventFactory, UserFactory


@pytest.fixture
def organizer(db):
    user = UserFactory(username="organizer")
    user.groups.add(services.organizers_group())
    return user


@pytest.fixture
def event(organizer):
    return EventFactory(organizer=organizer, title="Django meetup", location="Room A")


@pytest.fixture
def make_users(db):
    def make(*names):
        return [UserFactory(username=name) for name in names]

    return make
