import pytest

from leaderboard import services, sorted_set
from tests.leaderboard.factories import EntryFactory, UserFactory


@pytest.fixture
def board(db):
    """Make entries with the given totals: ``board({"ann": 100, "ben": 90})`` -> users by name.

    The sorted set is then rebuilt from the table, as the nightly job does.
    """

    def make(totals: dict[str, int]):
        users = {}
        for name, total in totals.items():
            users[name] = UserFactory(username=name)
            EntryFactory(user=users[name], total_score=total)
        if sorted_set.client() is not None:
            services.ranking_rebuild()
        return users

    return make
