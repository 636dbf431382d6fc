import pytest

from notifications import selectors, services
from notifications.kinds import EVENT_UPDATED, GAME_SCORED
from notifications.models import topic_for
from notifications.services import notify
from tests.pipeline.factories import UserFactory

pytestmark = pytest.mark.django_db


def make(user, count, kind=EVENT_UPDATED, prefix="n"):
    return [
        notify(kind=kind, recipients=[user], context={}, dedupe_key=f"{prefix}{n}")
        .notification_ids[0]
        for n in range(count)
    ]


def test_list_pages_newest_first_by_id_keyset(alice, bob, settings):
    settings.NOTIFICATIONS_RATE_LIMIT_COUNT = 100
    ids = make(alice, 5)
    make(bob, 2)
    first_page = selectors.notification_list(user=alice, limit=3)
    second_page = selectors.notification_list(user=alice, before_id=first_page[-1].pk, limit=3)
    assert [n.pk for n in first_page] == ids[::-1][:3]
    assert [n.pk for n in second_page] == ids[::-1][3:]


def test_list_filters_unread_and_kind(alice, settings):
    settings.NOTIFICATIONS_RATE_LIMIT_COUNT = 100
    updates = make(alice, 2)
    scores = make(alice, 2, kind=GAME_SCORED, prefix="g")
    services.notification_mark_read(user=alice, notification_id=updates[0])
    assert [n.pk for n in selectors.notification_list(user=alice, unread_only=True)] == [
        scores[1], scores[0], updates[1]]
    assert [n.pk for n in selectors.notification_list(user=alice, kind=GAME_SCORED)] == scores[::-1]


def test_list_costs_one_query_whatever_the_rows(alice, settings, django_assert_num_queries):
    settings.NOTIFICATIONS_RATE_LIMIT_COUNT = 100
    make(alice, 2)
    with django_assert_num_queries(1):
        selectors.notification_list(user=alice)
    make(alice, 15, prefix="more")
    with django_assert_num_queries(1):
        assert len(selectors.notification_list(user=alice)) == 17


def test_notifications_after_returns_the_missed_ones_oldest_first(alice, settings):
    settings.NOTIFICATIONS_RATE_LIMIT_COUNT = 100
    ids = make(alice, 4)
    assert [n.pk for n in selectors.notifications_after(user=alice, last_id=ids[1])] == ids[2:]
    assert selectors.notifications_after(user=alice, last_id=ids[-1]) == []


def test_subscribers_follow_topics_and_kinds(alice, bob):
    carol = UserFactory(username="carol")
    event_topic = "events.event:12"
    services.subscription_follow(user=alice, topic=event_topic)
    services.subscription_follow(user=bob, topic=event_topic, kinds=[GAME_SCORED])
    services.subscription_follow(user=carol, topic="events.event:13")

    assert set(selectors.subscribers(topic=event_topic)) == {alice, bob}
    assert list(selectors.subscribers(topic=event_topic, kind=EVENT_UPDATED)) == [alice]
    assert set(selectors.subscribers(topic=event_topic, kind=GAME_SCORED)) == {alice, bob}

    assert services.subscription_unfollow(user=alice, topic=event_topic)
    assert not services.subscription_unfollow(user=alice, topic=event_topic)
    assert list(selectors.subscribers(topic=event_topic)) == [bob]


def test_following_again_updates_the_kinds_and_unknown_kinds_are_refused(alice):
    services.subscription_follow(user=alice, topic="t", kinds=[GAME_SCORED])
    services.subscription_follow(user=alice, topic="t")
    assert list(selectors.subscribers(topic="t", kind=EVENT_UPDATED)) == [alice]
    with pytest.raises(ValueError, match="Unknown notification kind"):
        services.subscription_follow(user=alice, topic="t", kinds=["nope"])


def test_subscribers_feed_notify_as_a_subquery(alice, bob):
    services.subscription_follow(user=alice, topic=topic_for(bob))
    result = notify(kind=EVENT_UPDATED, recipients=selectors.subscribers(
        topic=topic_for(bob), kind=EVENT_UPDATED), context={}, dedupe_key="sub")
    assert result.created == 1
    assert topic_for(bob) == f"auth.user:{bob.pk}"


def test_preference_matrix_shows_defaults_and_choices(alice):
    services.preference_set(user=alice, kind=EVENT_UPDATED, channel="email", enabled=False)
    services.preference_set(user=alice, kind=GAME_SCORED, channel="push", enabled=True)
    matrix = selectors.preference_matrix(user=alice)
    assert matrix[EVENT_UPDATED] == {
        "in_app": True, "email": False, "push": False, "sms": False, "mobile": False
    }
    assert matrix[GAME_SCORED]["push"] is True
    assert "rate_limit_summary" not in matrix


def test_catch_up_after_a_long_absence_sends_the_newest_ones(alice, settings):
    settings.NOTIFICATIONS_RATE_LIMIT_COUNT = 100
    ids = make(alice, 8)
    missed = selectors.notifications_after(user=alice, last_id=0, limit=3)
    assert [n.pk for n in missed] == ids[-3:]
