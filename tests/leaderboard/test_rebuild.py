from io import StringIO

import pytest
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from leaderboard import selectors, sorted_set

pytestmark = pytest.mark.django_db


def rebuild_command() -> str:
    out = StringIO()
    call_command("rebuild_leaderboard", stdout=out)
    return out.getvalue()


def redis_ranks(users) -> dict[str, int | None]:
    return {name: sorted_set.rank_of(user.pk) for name, user in users.items()}


TOTALS = {"ann": 100, "ben": 90, "cat": 90, "dan": 80}
RANKS = {"ann": 1, "ben": 2, "cat": 2, "dan": 4}


@pytest.mark.services
def test_the_command_repairs_a_flushed_sorted_set(board, clean_redis):
    users = board(TOTALS)
    clean_redis.flushdb()
    assert redis_ranks(users) == dict.fromkeys(TOTALS)

    output = rebuild_command()

    assert "4 entries; drift repaired: 4 missing, 0 wrong, 0 extra" in output
    assert redis_ranks(users) == RANKS


@pytest.mark.services
def test_the_command_repairs_a_tampered_sorted_set(board, clean_redis):
    users = board(TOTALS)
    clean_redis.zadd(sorted_set.key(), {str(users["dan"].pk): 500, "999999": 1000})
    clean_redis.zrem(sorted_set.key(), str(users["cat"].pk))
    assert sorted_set.rank_of(users["dan"].pk) == 2  # wrong: the set lies

    output = rebuild_command()

    assert "drift repaired: 1 missing, 1 wrong, 1 extra" in output
    assert "drifted by 3 members" in output
    assert redis_ranks(users) == RANKS
    assert clean_redis.zscore(sorted_set.key(), "999999") is None


def test_a_rebuild_of_a_healthy_set_reports_no_drift(board):
    board(TOTALS)
    assert "No drift." in rebuild_command()


def test_the_nightly_rebuild_is_scheduled_in_beat():
    task = PeriodicTask.objects.get(task="leaderboard.tasks.leaderboard_rebuild")
    assert task.enabled
    assert (task.crontab.hour, task.crontab.minute) == ("3", "15")


def test_ranks_from_redis_and_the_table_agree_after_a_rebuild(board):
    users = board({f"p{i}": (i * 37) % 11 for i in range(40)})
    for user in users.values():
        assert selectors.rank_for(user_id=user.pk) == selectors.rank_for_db(user_id=user.pk)
