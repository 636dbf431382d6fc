import pytest

from leaderboard import services
from notifications.models import Notification
from tests.leaderboard.factories import UserFactory

pytestmark = pytest.mark.django_db


def rank_changes(user) -> list[dict]:
    return list(
        Notification.objects.filter(recipient=user, kind="rank_changed").values_list("data", flat=True)
    )


@pytest.fixture
def full_top(board):
    """Twelve players: p00 = 120, p01 = 110, ... p11 = 10 (the top 10 ends at p09 with 30)."""
    return board({f"p{i:02}": 120 - 10 * i for i in range(12)})


def test_entering_the_top_ten_is_announced_to_the_player(full_top):
    newcomer = full_top["p11"]  # 10 points, rank 12
    services.score_submit(user_id=newcomer.pk, points=25)  # 35: rank 10

    (change,) = rank_changes(newcomer)
    assert change["reason"] == "entered_top"
    assert change["rank"] == 10


def test_the_player_overtaken_in_the_top_ten_is_told_who_passed_them(full_top):
    climber = full_top["p11"]
    services.score_submit(user_id=climber.pk, points=25)  # 35 passes p09 (30)

    (change,) = rank_changes(full_top["p09"])
    assert change["reason"] == "overtaken"
    assert change["overtaken_by"] == "p11"
    assert (change["previous_rank"], change["rank"]) == (10, 11)
    assert rank_changes(full_top["p08"]) == []  # 40: not passed


def test_a_tie_is_not_an_overtake_but_passing_a_tied_group_tells_all_of_them(board):
    users = board({"ann": 100, "ben": 50, "cat": 50, "dan": 40})
    services.score_submit(user_id=users["dan"].pk, points=10)  # 50: level with ben and cat
    assert rank_changes(users["ben"]) == rank_changes(users["cat"]) == []

    services.score_submit(user_id=users["dan"].pk, points=1)  # 51: ahead of both
    assert [c["overtaken_by"] for c in rank_changes(users["ben"])] == ["dan"]
    assert [c["overtaken_by"] for c in rank_changes(users["cat"])] == ["dan"]
    assert rank_changes(users["ann"]) == []


def test_moves_below_the_top_ten_notify_nobody(full_top):
    extra = UserFactory(username="late")
    services.score_submit(user_id=extra.pk, points=1)
    services.score_submit(user_id=extra.pk, points=2)
    assert not Notification.objects.filter(kind="rank_changed").exists()


def test_a_busy_board_tells_a_player_once_per_window(full_top, settings):
    settings.LEADERBOARD_RANK_NOTIFY_WINDOW = 3600
    target = full_top["p09"]
    for name in ("p10", "p11"):
        services.score_submit(user_id=full_top[name].pk, points=30)  # each passes p09 (30)

    assert len(rank_changes(target)) == 1
