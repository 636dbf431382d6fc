import pytest

from notifications import selectors, services
from notifications.kinds import EVENT_UPDATED
from notifications.models import Notification
from notifications.services import notify

pytestmark = pytest.mark.django_db


@pytest.fixture
def three_for_alice(alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        ids = [
            notify(kind=EVENT_UPDATED, recipients=[alice], context={}, dedupe_key=f"k{n}")
            .notification_ids[0]
            for n in range(3)
        ]
    return ids


def commit(django_capture_on_commit_callbacks, action):
    with django_capture_on_commit_callbacks(execute=True):
        return action()


def test_new_notifications_count_as_unread(alice, three_for_alice):
    assert selectors.unread_count(user=alice) == 3


def test_mark_read_is_idempotent_and_moves_the_counter_once(
    alice, three_for_alice, django_capture_on_commit_callbacks
):
    first, *_ = three_for_alice
    selectors.unread_count(user=alice)  # counter is cached from here on

    changed = [
        commit(django_capture_on_commit_callbacks,
               lambda: services.notification_mark_read(user=alice, notification_id=first))
        for _ in range(2)
    ]

    assert changed == [True, False]
    assert selectors.unread_count(user=alice) == 2
    row = Notification.objects.get(pk=first)
    assert row.is_read and row.read_at is not None


def test_mark_unread_puts_it_back(alice, three_for_alice, django_capture_on_commit_callbacks):
    first, *_ = three_for_alice
    commit(django_capture_on_commit_callbacks,
           lambda: services.notification_mark_read(user=alice, notification_id=first))
    assert commit(django_capture_on_commit_callbacks,
                  lambda: services.notification_mark_unread(user=alice, notification_id=first))
    assert not commit(django_capture_on_commit_callbacks,
                      lambda: services.notification_mark_unread(user=alice, notification_id=first))
    assert selectors.unread_count(user=alice) == 3


def test_mark_all_read_zeroes_the_badge(alice, three_for_alice, django_capture_on_commit_callbacks):
    assert commit(django_capture_on_commit_callbacks,
                  lambda: services.notification_mark_all_read(user=alice)) == 3
    assert commit(django_capture_on_commit_callbacks,
                  lambda: services.notification_mark_all_read(user=alice)) == 0
    assert selectors.unread_count(user=alice) == 0


def test_dismiss_hides_it_and_counts_it_read(
    alice, three_for_alice, django_capture_on_commit_callbacks
):
    first, second, third = three_for_alice
    assert commit(django_capture_on_commit_callbacks,
                  lambda: services.notification_dismiss(user=alice, notification_id=second))
    assert not commit(django_capture_on_commit_callbacks,
                      lambda: services.notification_dismiss(user=alice, notification_id=second))
    assert selectors.unread_count(user=alice) == 2
    assert [n.pk for n in selectors.notification_list(user=alice)] == [third, first]


def test_another_users_notification_cannot_be_touched(alice, bob, three_for_alice):
    first, *_ = three_for_alice
    for action in (
        services.notification_mark_read,
        services.notification_mark_unread,
        services.notification_dismiss,
        services.notification_record_click,
    ):
        with pytest.raises(Notification.DoesNotExist):
            action(user=bob, notification_id=first)
    assert services.notification_record_seen(user=bob, notification_ids=[first]) == 0
    assert not Notification.objects.get(pk=first).is_read


def test_click_records_first_click_and_seen_and_marks_read(alice, three_for_alice):
    first, *_ = three_for_alice
    clicked = services.notification_record_click(user=alice, notification_id=first)
    again = services.notification_record_click(user=alice, notification_id=first)
    assert clicked.is_read and clicked.clicked_at and clicked.seen_at
    assert again.clicked_at == clicked.clicked_at


def test_seen_is_recorded_once(alice, three_for_alice):
    assert services.notification_record_seen(user=alice, notification_ids=three_for_alice) == 3
    assert services.notification_record_seen(user=alice, notification_ids=three_for_alice) == 0


@pytest.mark.services
def test_unread_counter_survives_flushdb(alice, bob, three_for_alice, clean_redis,
                                         django_capture_on_commit_callbacks):
    first, *_ = three_for_alice
    commit(django_capture_on_commit_callbacks,
           lambda: services.notification_mark_read(user=alice, notification_id=first))
    assert selectors.unread_count(user=alice) == 2

    clean_redis.flushdb()
    # A read-state change while the counter is gone must not invent a wrong value...
    commit(django_capture_on_commit_callbacks,
           lambda: services.notification_mark_unread(user=alice, notification_id=first))
    # ...the next read rebuilds it from the database.
    assert selectors.unread_counts([alice.pk, bob.pk]) == {alice.pk: 3, bob.pk: 0}
    with django_capture_on_commit_callbacks(execute=True):
        notify(kind=EVENT_UPDATED, recipients=[alice], context={}, dedupe_key="after-flush")
    assert selectors.unread_count(user=alice) == 4


def test_badge_read_costs_no_query_once_cached(alice, three_for_alice, django_assert_num_queries):
    selectors.unread_count(user=alice)
    with django_assert_num_queries(0):
        assert selectors.unread_count(user=alice) == 3


def test_mark_all_read_heals_a_counter_that_drifted(
    alice, three_for_alice, django_capture_on_commit_callbacks
):
    from django.core.cache import cache

    from notifications.counters import unread_key

    cache.set(unread_key(alice.pk), 7)  # drifted: the database says 3
    commit(django_capture_on_commit_callbacks,
           lambda: services.notification_mark_all_read(user=alice))
    assert selectors.unread_count(user=alice) == 0


def test_badge_is_counted_in_the_database_while_redis_is_unreachable(
    alice, three_for_alice, settings
):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens on port 1
        }
    }
    assert selectors.unread_count(user=alice) == 3
