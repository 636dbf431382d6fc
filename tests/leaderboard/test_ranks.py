import pytest
from django.core.cache import cache
from django.test import override_settings

from leaderboard import selectors, sorted_set
from leaderboard.models import LeaderboardEntry

pytestmark = pytest.mark.django_db


def ranks_by_name(users, rank_function):
    return {name: rank_function(user_id=user.pk) for name, user in users.items()}


@pytest.mark.services
def test_equal_totals_share_a_rank_and_the_next_rank_skips_in_redis_and_in_the_table(board):
    users = board({"ann": 100, "ben": 90, "cat": 90, "dan": 80})
    expected = {"ann": 1, "ben": 2, "cat": 2, "dan": 4}

    assert sorted_set.rank_of(users["ben"].pk) == 2  # answered by Redis, not the fallback
    assert ranks_by_name(users, selectors.rank_for) == expected
    assert ranks_by_name(users, selectors.rank_for_db) == expected


def test_embedded_mode_without_redis_ranks_from_the_table(board):
    users = board({"ann": 100, "ben": 90, "cat": 90, "dan": 80})
    with override_settings(REDIS_URL=""):
        assert sorted_set.client() is None
        assert ranks_by_name(users, selectors.rank_for) == {"ann": 1, "ben": 2, "cat": 2, "dan": 4}


@pytest.mark.services
def test_a_flushed_sorted_set_falls_back_to_the_table(board, clean_redis):
    users = board({"ann": 100, "ben": 90, "cat": 90, "dan": 80})
    clean_redis.flushdb()
    assert sorted_set.rank_of(users["dan"].pk) is None
    assert selectors.rank_for(user_id=users["dan"].pk) == 4


def test_a_user_without_an_entry_has_no_rank(board):
    from tests.leaderboard.factories import UserFactory

    board({"ann": 100})
    newcomer = UserFactory()
    assert selectors.rank_for(user_id=newcomer.pk) is None
    assert selectors.rank_for_db(user_id=newcomer.pk) is None


def test_top_ten_is_ordered_by_total_then_user_with_tie_ranks(board, django_assert_num_queries):
    totals = {f"p{i:02}": total for i, total in enumerate([50, 70, 70, 90, 10, 20, 30, 30, 40, 60, 5, 1])}
    board(totals)
    cache.delete(selectors.TOP_CACHE_KEY)
    with django_assert_num_queries(1):
        top = selectors.top()
    assert [(row.rank, row.total) for row in top] == [
        (1, 90), (2, 70), (2, 70), (4, 60), (5, 50), (6, 40), (7, 30), (7, 30), (9, 20), (10, 10)
    ]
    assert [row.username for row in top[1:3]] == ["p01", "p02"]  # tie broken by user id


@pytest.mark.parametrize("redis_on", [True, False], ids=["redis", "table"])
def test_around_me_shows_five_above_and_five_below_with_tie_ranks(board, redis_on, settings):
    # 30 players: totals 100, 95, 95, 95, ... so that ties straddle the window's edges.
    totals = {f"p{i:02}": 100 - 5 * ((i + 2) // 3) for i in range(30)}
    users = board(totals)
    if not redis_on:
        settings.REDIS_URL = ""
    me = users["p13"]
    window = selectors.around(user_id=me.pk)

    everyone = list(LeaderboardEntry.objects.order_by("-total_score", "user_id"))
    position = [entry.user_id for entry in everyone].index(me.pk)
    expected = everyone[position - 5 : position + 6]
    assert [row.user_id for row in window] == [entry.user_id for entry in expected]
    assert [row.rank for row in window] == [
        selectors.rank_for_db(user_id=entry.user_id) for entry in expected
    ]
    assert window[5].user_id == me.pk


def test_around_me_near_the_top_and_the_bottom_is_shorter(board):
    users = board({"ann": 100, "ben": 90, "cat": 90, "dan": 80})
    assert [row.username for row in selectors.around(user_id=users["ann"].pk)] == [
        "ann", "ben", "cat", "dan"
    ]
    assert [row.rank for row in selectors.around(user_id=users["dan"].pk)] == [1, 2, 2, 4]


def test_around_me_query_count_does_not_grow_with_the_board(board, django_assert_max_num_queries):
    users = board({f"p{i:03}": i % 7 for i in range(200)})
    with django_assert_max_num_queries(5):
        selectors.around(user_id=users["p100"].pk)


def test_the_cached_top_ten_changes_as_soon_as_a_submit_reaches_it(
    board, django_capture_on_commit_callbacks, django_assert_num_queries
):
    from leaderboard import services

    users = board({f"p{i:02}": 100 - i for i in range(12)})
    selectors.top()
    with django_assert_num_queries(0):
        assert selectors.top()[0].username == "p00"  # served from the cache
    with django_capture_on_commit_callbacks(execute=True):
        services.score_submit(user_id=users["p11"].pk, points=50)
    assert [(row.rank, row.username) for row in selectors.top()[:2]] == [(1, "p11"), (2, "p00")]
