from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone

from notifications import bulk, selectors
from notifications.kinds import EVENT_CANCELLED, EVENT_UPDATED, GAME_SCORED, RATE_LIMIT_SUMMARY
from notifications.models import (
    Delivery,
    DeliveryStatus,
    Notification,
    Preference,
    QuietHours,
    Silenced,
)
from notifications.services import notify
from tests.pipeline.factories import ContactPointFactory, PushSubscriptionFactory, UserFactory

pytestmark = pytest.mark.django_db


def quiet_now(user):
    """Quiet hours around the current moment, ending in about two hours."""
    now = timezone.now()
    return QuietHours.objects.create(
        user=user,
        start=(now - timedelta(hours=1)).time().replace(microsecond=0),
        end=(now + timedelta(hours=2)).time().replace(second=0, microsecond=0),
        time_zone="UTC",
    )


def updated(recipients, key="event:12:updated:v1", **kwargs):
    kwargs.setdefault("context", {"event_title": "Board game night", "changes": ["starts_at"]})
    return notify(
        kind=EVENT_UPDATED, recipients=recipients, dedupe_key=key, url="/events/12/", **kwargs
    )


def test_same_dedupe_key_twice_makes_one_row_and_one_delivery(
    alice, django_capture_on_commit_callbacks, notification_outbox
):
    with django_capture_on_commit_callbacks(execute=True):
        first = updated([alice])
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        second = updated([alice])

    assert (first.created, second.created, second.duplicates) == (1, 0, 1)
    assert Notification.objects.filter(recipient=alice).count() == 1
    assert Delivery.objects.filter(notification__recipient=alice).count() == 1
    assert notification_outbox.kinds_for(alice, channel="in_app") == [EVENT_UPDATED]
    assert callbacks == []  # the repeat schedules nothing at all


def test_a_large_fan_out_through_copy_skips_existing_rows_and_returns_the_new_ones(monkeypatch):
    # Fan-outs from COPY_MIN_ROWS rows on go through COPY into a staging table: two rows here.
    monkeypatch.setattr(bulk, "COPY_MIN_ROWS", 2)
    users = UserFactory.create_batch(6)
    updated(users[:2], key="copy")
    with transaction.atomic():
        first = updated(users, key="copy")
        # A second fan-out in the same transaction sees none of the first one's staged rows.
        other = updated(users[3:], key="copy-other")

    assert (first.created, first.duplicates, other.created) == (4, 2, 3)
    new_rows = dict(
        Notification.objects.filter(pk__in=first.notification_ids).values_list("pk", "recipient_id")
    )
    assert sorted(new_rows.values()) == sorted(user.pk for user in users[2:])
    assert Notification.objects.filter(dedupe_key="copy").count() == 6
    # One email delivery per new row (users come with a confirmed email), none for the old ones.
    assert sorted(
        Delivery.objects.filter(pk__in=first.delivery_ids).values_list("notification_id", flat=True)
    ) == sorted(new_rows)


def test_rows_carry_rendered_texts_subject_and_data(alice):
    subject = UserFactory(username="organiser")  # any model instance works as a subject
    updated([alice], subject=subject, context={"event_title": "Quiz", "changes": ["place"]})

    row = Notification.objects.get(recipient=alice)
    assert row.title == "Quiz was updated"
    assert "place" in row.body
    assert row.subject == subject
    assert row.data == {"event_title": "Quiz", "changes": ["place"]}
    assert (row.priority, row.url, row.is_read) == ("normal", "/events/12/", False)


def test_queryset_of_recipients_costs_the_same_queries_for_5_or_50_users(
    django_assert_num_queries,
):
    few = UserFactory.create_batch(5)
    many = UserFactory.create_batch(50)
    user_model = get_user_model()
    # Recipients with their channels and quiet hours, the notification insert, the relay row,
    # the delivery insert (the rate limit is in Redis): the count must not depend on how many
    # recipients there are. SQLite's INSERT OR IGNORE returns no ids, so one SELECT reads them.
    updated(user_model.objects.filter(pk__in=[u.pk for u in few]), key="warm-up")
    expected = 4 if connection.vendor == "postgresql" else 5
    with django_assert_num_queries(expected) as small:
        updated(user_model.objects.filter(pk__in=[u.pk for u in few]), key="few")
    with django_assert_num_queries(len(small.captured_queries)):
        updated(user_model.objects.filter(pk__in=[u.pk for u in many]), key="many")
    assert Notification.objects.filter(dedupe_key="many").count() == 50


def test_preferences_decide_channels_against_kind_defaults(alice, bob):
    PushSubscriptionFactory(user=alice)
    PushSubscriptionFactory(user=bob)
    ContactPointFactory(user=bob)
    # event_updated defaults: in-app + email. Alice turns email off; Bob turns push and SMS on.
    Preference.objects.create(user=alice, kind=EVENT_UPDATED, channel="email", enabled=False)
    Preference.objects.create(user=bob, kind=EVENT_UPDATED, channel="push", enabled=True)
    Preference.objects.create(user=bob, kind=EVENT_UPDATED, channel="sms", enabled=True)
    # A preference for another kind changes nothing here.
    Preference.objects.create(user=alice, kind=GAME_SCORED, channel="email", enabled=True)

    updated([alice, bob])

    def channels(user):
        return set(Delivery.objects.filter(notification__recipient=user).values_list(
            "channel", flat=True))

    assert channels(alice) == set()
    assert channels(bob) == {"email", "push", "sms"}
    assert Notification.objects.get(recipient=alice).in_app


def test_a_channel_with_nowhere_to_send_gets_no_delivery(alice):
    alice.email = ""
    alice.save()
    Preference.objects.create(user=alice, kind=EVENT_UPDATED, channel="sms", enabled=True)

    updated([alice])  # no email address, no phone number

    assert Notification.objects.filter(recipient=alice).count() == 1
    assert not Delivery.objects.exists()


def test_every_channel_off_means_no_row(alice, bob):
    for channel in ("in_app", "email"):
        Preference.objects.create(user=alice, kind=EVENT_UPDATED, channel=channel, enabled=False)

    result = updated([alice, bob])

    assert result.created == 1
    assert list(Notification.objects.values_list("recipient", flat=True)) == [bob.pk]


def test_in_app_off_keeps_a_hidden_record_for_email_and_no_toast(
    alice, django_capture_on_commit_callbacks, notification_outbox
):
    Preference.objects.create(user=alice, kind=EVENT_UPDATED, channel="in_app", enabled=False)

    with django_capture_on_commit_callbacks(execute=True):
        updated([alice])

    row = Notification.objects.get(recipient=alice)
    assert not row.in_app
    assert row.deliveries.get().channel == "email"
    assert notification_outbox.kinds_for(alice, channel="in_app") == []
    assert selectors.notification_list(user=alice) == []
    assert selectors.unread_count(user=alice) == 0


def test_quiet_hours_defer_email_and_store_in_app_silently(
    alice, bob, django_capture_on_commit_callbacks, notification_outbox
):
    window = quiet_now(alice)

    with django_capture_on_commit_callbacks(execute=True):
        result = updated([alice, bob])

    assert result.silenced == 1
    alice_row = Notification.objects.get(recipient=alice)
    assert alice_row.silenced == Silenced.QUIET_HOURS
    delivery = alice_row.deliveries.get()
    expected_end = datetime.combine(timezone.now().date(), window.end, tzinfo=dt_timezone.utc)
    if expected_end < timezone.now():
        expected_end += timedelta(days=1)
    assert delivery.next_attempt_at == expected_end
    assert delivery.status == DeliveryStatus.PENDING
    assert notification_outbox.kinds_for(alice, channel="in_app") == []
    assert notification_outbox.kinds_for(bob, channel="in_app") == [EVENT_UPDATED]
    # Bob is outside quiet hours: his email went out at once.
    assert Notification.objects.get(recipient=bob).deliveries.get().status == DeliveryStatus.SENT


def test_urgent_bypasses_quiet_hours(
    alice, django_capture_on_commit_callbacks, notification_outbox
):
    quiet_now(alice)

    with django_capture_on_commit_callbacks(execute=True):
        result = notify(
            kind=EVENT_CANCELLED,
            recipients=[alice],
            context={"event_title": "Board game night"},
            dedupe_key="event:12:cancelled",
        )

    row = Notification.objects.get(pk=result.notification_ids[0])
    assert (row.priority, row.silenced) == ("urgent", Silenced.NO)
    assert row.title == "Board game night is cancelled"
    assert [d.status for d in row.deliveries.all()] == [DeliveryStatus.SENT]
    assert notification_outbox.kinds_for(alice, channel="in_app") == [EVENT_CANCELLED]


def test_rate_limit_collapses_a_burst_into_one_summary(
    alice, settings, django_capture_on_commit_callbacks, notification_outbox
):
    settings.NOTIFICATIONS_RATE_LIMIT_COUNT = 3
    settings.NOTIFICATIONS_RATE_LIMIT_WINDOW_SECONDS = 3600

    with django_capture_on_commit_callbacks(execute=True):
        results = [
            notify(kind=GAME_SCORED, recipients=[alice], context={"total": n},
                   dedupe_key=f"game:{n}:scored")
            for n in range(8)
        ]

    assert [r.rate_limited for r in results] == [0, 0, 0, 1, 1, 1, 1, 1]
    rows = Notification.objects.filter(recipient=alice, kind=GAME_SCORED)
    assert rows.count() == 8
    assert rows.filter(silenced=Silenced.RATE_LIMIT).count() == 5
    summary = Notification.objects.get(recipient=alice, kind=RATE_LIMIT_SUMMARY)
    assert summary.title == "and 5 more “Game scored” notifications"
    assert summary.data["count"] == 5
    assert notification_outbox.kinds_for(alice, channel="in_app") == [GAME_SCORED] * 3 + [
        RATE_LIMIT_SUMMARY
    ]


def test_rate_limited_rows_get_no_external_delivery(alice, settings):
    settings.NOTIFICATIONS_RATE_LIMIT_COUNT = 1
    settings.NOTIFICATIONS_RATE_LIMIT_WINDOW_SECONDS = 3600  # no window boundary mid-test
    for n in range(3):
        updated([alice], key=f"event:12:updated:v{n}")
    assert Delivery.objects.filter(notification__recipient=alice).count() == 1


def test_rate_limit_is_per_kind_and_urgent_is_never_limited(alice, settings):
    settings.NOTIFICATIONS_RATE_LIMIT_COUNT = 1
    settings.NOTIFICATIONS_RATE_LIMIT_WINDOW_SECONDS = 3600
    updated([alice], key="a")
    assert notify(kind=GAME_SCORED, recipients=[alice], context={}).rate_limited == 0
    for n in range(3):
        result = notify(kind=EVENT_CANCELLED, recipients=[alice], dedupe_key=f"cancel:{n}")
        assert (result.created, result.rate_limited) == (1, 0)


def test_a_rolled_back_fan_out_still_counts_against_the_rate_limit_window(alice, settings):
    # The silenced flag is written with the rows, so the window is counted before commit: a
    # rollback makes the limit stricter for the rest of the window, never lets more through.
    settings.NOTIFICATIONS_RATE_LIMIT_COUNT = 2
    settings.NOTIFICATIONS_RATE_LIMIT_WINDOW_SECONDS = 3600

    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        assert updated([alice], key="rolled-back").rate_limited == 0
        raise Abort

    assert not Notification.objects.filter(recipient=alice).exists()
    assert [updated([alice], key=f"kept:{n}").rate_limited for n in range(2)] == [0, 1]


def test_rolled_back_transaction_sends_nothing(
    alice, django_capture_on_commit_callbacks, notification_outbox
):
    class Abort(Exception):
        pass

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(Abort), transaction.atomic():
            updated([alice])
            raise Abort

    assert callbacks == []
    assert not Notification.objects.exists()
    assert not Delivery.objects.exists()
    assert notification_outbox.sent == []


def test_unknown_kind_or_priority_is_refused(alice):
    with pytest.raises(ValueError, match="Unknown notification kind"):
        notify(kind="party", recipients=[alice], context={})
    with pytest.raises(ValueError, match="Unknown priority"):
        notify(kind=EVENT_UPDATED, recipients=[alice], context={}, priority="asap")


def test_inactive_users_are_not_notified(alice, bob):
    bob.is_active = False
    bob.save()
    assert updated([alice, bob]).created == 1


def test_refused_arguments_leave_the_callers_transaction_usable(alice):
    with transaction.atomic():
        with pytest.raises(ValueError):
            notify(kind="party", recipients=[alice], context={})
        # The caller caught the error (e.g. to answer 400) and carries on in its transaction.
        assert updated([alice]).created == 1


def test_no_recipients_is_a_no_op(django_assert_num_queries, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks, django_assert_num_queries(0):
        result = updated([])
    assert (result.created, result.notification_ids, callbacks) == (0, [], [])


def test_with_redis_unreachable_the_rows_still_commit_and_the_caller_gets_no_error(
    alice, settings, django_capture_on_commit_callbacks, caplog
):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens on port 1
        }
    }
    with django_capture_on_commit_callbacks(execute=True):
        result = updated([alice])

    assert Notification.objects.filter(pk__in=result.notification_ids).exists()
    assert result.rate_limited == 0  # without its counters the rate limit lets it through
    assert "Rate limit skipped" in caplog.text
    # Logged for the operators, not raised; the relay sends the failed step again.
    assert "the unread counters step failed" in caplog.text
