from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, transaction

from leaderboard import selectors, services, sorted_set
from leaderboard.models import LeaderboardEntry
from tests.leaderboard.factories import EntryFactory, UserFactory


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_one_hundred_concurrent_submits_of_one_point_add_one_hundred():
    player = UserFactory()

    def submit(_):
        try:
            services.score_submit(user_id=player.pk, points=1)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=20) as pool:
        list(pool.map(submit, range(100)))

    entry = LeaderboardEntry.objects.get(user=player)
    assert entry.total_score == 100
    assert sorted_set.client().zscore(sorted_set.key(), str(player.pk)) == 100


@pytest.mark.django_db
def test_submit_creates_the_entry_then_adds_to_it(django_capture_on_commit_callbacks):
    player = UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        first = services.score_submit(user_id=player.pk, points=30, games=1)
    with django_capture_on_commit_callbacks(execute=True):
        second = services.score_submit(user_id=player.pk, points=12, games=1)

    assert (first.old_total, first.new_total) == (0, 30)
    assert (second.old_total, second.new_total) == (30, 42)
    entry = LeaderboardEntry.objects.get(user=player)
    assert (entry.total_score, entry.games_played) == (42, 2)


@pytest.mark.services
@pytest.mark.django_db
def test_the_sorted_set_changes_only_after_commit(board, django_capture_on_commit_callbacks):
    users = board({"ann": 100, "ben": 90})
    conn = sorted_set.client()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.score_submit(user_id=users["ben"].pk, points=20)
    assert conn.zscore(sorted_set.key(), str(users["ben"].pk)) == 90
    for callback in callbacks:
        callback()
    assert conn.zscore(sorted_set.key(), str(users["ben"].pk)) == 110
    assert selectors.rank_for(user_id=users["ann"].pk) == 2


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_submit_changes_neither_the_table_nor_redis(board):
    users = board({"ann": 100, "ben": 90})
    with pytest.raises(RuntimeError), transaction.atomic():
        services.score_submit(user_id=users["ben"].pk, points=50)
        raise RuntimeError("the caller failed after submitting")
    assert LeaderboardEntry.objects.get(user=users["ben"]).total_score == 90
    assert sorted_set.client().zscore(sorted_set.key(), str(users["ben"].pk)) == 90


@pytest.mark.django_db
def test_negative_points_are_refused():
    entry = EntryFactory(total_score=10)
    with pytest.raises(ValueError, match="must not be negative"):
        services.score_submit(user_id=entry.user_id, points=-5)
    entry.refresh_from_db()
    assert entry.total_score == 10


@pytest.mark.services
@pytest.mark.django_db
def test_a_submit_after_redis_lost_the_set_rebuilds_it_whole(
    board, clean_redis, django_capture_on_commit_callbacks
):
    users = board({"ann": 100, "ben": 90, "cat": 80})
    clean_redis.flushdb()
    with django_capture_on_commit_callbacks(execute=True):
        services.score_submit(user_id=users["cat"].pk, points=15)
    # Not a one-member set (which would rank cat first): the whole table is back.
    assert clean_redis.zcard(sorted_set.key()) == 3
    assert sorted_set.rank_of(users["cat"].pk) == 2


@pytest.mark.services
@pytest.mark.django_db
def test_a_submit_sends_one_statement_and_one_redis_round_trip(
    board, django_capture_on_commit_callbacks, django_assert_num_queries, monkeypatch
):
    from django.core.cache import cache
    from redis.connection import Connection

    from leaderboard import live

    # The pending flag lives one broadcast interval: long enough here that a slow machine
    # between the two submits below does not let it expire.
    monkeypatch.setattr(live, "broadcast_interval", lambda: 60)
    users = board({f"p{i:02}": 100 - i for i in range(12)})
    services.score_submit(user_id=users["p11"].pk, points=0)  # prepares the statement
    selectors.top()  # cached
    cache.delete(live.BROADCAST_PENDING_KEY)
    queued = []
    monkeypatch.setattr(live, "broadcast_queue", lambda: queued.append(1))
    sent = []
    send = Connection.send_packed_command
    monkeypatch.setattr(
        Connection,
        "send_packed_command",
        lambda self, command, *args, **kwargs: (sent.append(command), send(self, command))[1],
    )

    with django_assert_num_queries(1), django_capture_on_commit_callbacks(execute=True):
        services.score_submit(user_id=users["p11"].pk, points=1)  # 90: still 11th, tied
    monkeypatch.undo()
    monkeypatch.setattr(live, "broadcast_interval", lambda: 60)

    assert len(sent) == 1  # the sorted set and the broadcast flag in one script
    assert sorted_set.rank_of(users["p11"].pk) == 11
    assert cache.get(selectors.TOP_CACHE_KEY) is not None  # not reached: the cached copy stays
    assert cache.get(live.BROADCAST_PENDING_KEY) == 1
    assert queued == [1]
    monkeypatch.setattr(live, "broadcast_queue", lambda: queued.append(1))
    with django_capture_on_commit_callbacks(execute=True):
        services.score_submit(user_id=users["p11"].pk, points=50)  # into the top 10
    assert cache.get(selectors.TOP_CACHE_KEY) is None
    assert selectors.top()[0].username == "p11"
    assert queued == [1]  # the pending broadcast covers it


@pytest.mark.django_db(transaction=True)
def test_the_prepared_submit_statement_survives_a_new_connection():
    player = UserFactory()
    services.score_submit(user_id=player.pk, points=5)
    connection.close()  # the next submit runs on a new session, which must prepare again
    services.score_submit(user_id=player.pk, points=7)
    with transaction.atomic():
        services.score_submit(user_id=player.pk, points=1)
        transaction.set_rollback(True)
    services.score_submit(user_id=player.pk, points=2)  # still prepared after the rollback

    assert LeaderboardEntry.objects.get(user=player).total_score == 14


@pytest.mark.services
@pytest.mark.django_db
def test_with_the_cache_in_another_redis_a_submit_still_updates_all_three(
    board, django_capture_on_commit_callbacks, settings, monkeypatch
):
    from django.core.cache import cache

    from leaderboard import live

    # Same server, but a URL that differs from the cache's LOCATION: one call each.
    settings.LEADERBOARD_REDIS_URL = f"{settings.REDIS_URL}?health_check_interval=30"
    assert not sorted_set.shares_cache()
    users = board({f"p{i:02}": 100 - i for i in range(12)})
    selectors.top()
    cache.delete(live.BROADCAST_PENDING_KEY)
    queued = []
    monkeypatch.setattr(live, "broadcast_queue", lambda: queued.append(1))

    with django_capture_on_commit_callbacks(execute=True):
        services.score_submit(user_id=users["p11"].pk, points=50)

    assert sorted_set.rank_of(users["p11"].pk) == 1
    assert cache.get(selectors.TOP_CACHE_KEY) is None
    assert queued == [1]
