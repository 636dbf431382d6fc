"""Email through Django's email framework, and the low-priority digest."""

import socket
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from notifications.delivery import services, tasks
from notifications.models import Channel, Delivery, DeliveryStatus
from notifications.services import notify

from .factories import DeliveryFactory, NotificationFactory, UserFactory

pytestmark = pytest.mark.django_db


def notify_email(user, key, *, priority=None, title="Quiz night"):
    return notify(
        kind="event_updated",
        recipients=[user],
        context={"event_title": title},
        dedupe_key=key,
        priority=priority,
        url="/events/12/",
    )


def email_rows(user):
    return Delivery.objects.filter(notification__recipient=user, channel=Channel.EMAIL)


def test_notification_email_goes_out_after_commit_with_text_and_html(
    django_capture_on_commit_callbacks, notification_outbox, settings
):
    settings.SITE_URL = "https://herald.example"
    user = UserFactory(email="ada@example.com")

    with django_capture_on_commit_callbacks(execute=True):
        notify_email(user, "event:12:updated:v1")
        assert mail.outbox == []  # nothing leaves before the commit

    [message] = mail.outbox
    assert message.to == ["ada@example.com"]
    notification = user.notifications.get()
    assert message.subject == notification.title
    # The link goes through the click redirect (tests/operations/test_ledger.py follows it).
    assert "https://herald.example/notifications/email/click/" in message.body
    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    assert "https://herald.example/notifications/email/click/" in html
    delivery = email_rows(user).get()
    assert delivery.status == DeliveryStatus.SENT
    assert delivery.provider_message_id == message.extra_headers["Message-ID"]
    assert notification_outbox.kinds_for(user, channel="email") == ["event_updated"]


def test_a_batch_of_emails_goes_through_one_smtp_session(smtp_server):
    count = services.CLAIM_CHUNK + 3  # more than one claim
    rows = DeliveryFactory.create_batch(count, channel=Channel.EMAIL)

    assert tasks.deliver_batch([row.pk for row in rows]) == {services.SENT: count}

    assert smtp_server.connections == 1
    assert [recipients for _, recipients, _ in smtp_server.messages] == [
        [row.notification.recipient.email] for row in rows
    ]
    for row, (_, _, data) in zip(rows, smtp_server.messages):
        row.refresh_from_db()
        assert f"Message-ID: {row.provider_message_id}".encode() in data


def test_address_refused_by_the_smtp_server_is_dead_and_the_batch_goes_on(smtp_server):
    refused, accepted = DeliveryFactory.create_batch(2, channel=Channel.EMAIL)
    smtp_server.refuse.add(refused.notification.recipient.email)

    outcomes = tasks.deliver_batch([refused.pk, accepted.pk])

    assert outcomes == {services.DEAD: 1, services.SENT: 1}
    refused.refresh_from_db()
    assert "recipient refused" in refused.last_error
    assert len(smtp_server.messages) == 1


def test_unreachable_smtp_server_is_a_retryable_failure(settings):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = closed_port
    settings.DELIVERY_RETRY_BASE_SECONDS = 60
    delivery = DeliveryFactory(channel=Channel.EMAIL)

    assert tasks.deliver(delivery.pk) == services.FAILED

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert "ConnectionRefusedError" in delivery.last_error


def test_recipient_without_email_address_is_dead():
    delivery = DeliveryFactory(notification=NotificationFactory(recipient=UserFactory(email="")))

    assert tasks.deliver(delivery.pk) == services.DEAD


def test_low_priority_emails_inside_the_window_go_out_as_one_digest(
    django_capture_on_commit_callbacks, notification_outbox, settings
):
    settings.DELIVERY_DIGEST_WINDOW_SECONDS = 900
    user = UserFactory()
    other = UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        for number in range(3):
            notify_email(user, f"low:{number}", priority="low", title=f"Low news {number}")
        notify_email(other, "low:other", priority="low")

    # Held for the window: nothing sent yet, every row waits about one window.
    assert mail.outbox == []
    rows = list(email_rows(user).order_by("id"))
    assert len(rows) == 3
    for row in rows:
        assert row.status == DeliveryStatus.PENDING
        assert row.next_attempt_at > timezone.now() + timedelta(seconds=800)
    assert services.deliveries_enqueue_due() == 0

    # The window of the first one ends.
    Delivery.objects.filter(pk=rows[0].pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1),
        created_at=timezone.now() - timedelta(seconds=901),
    )
    assert services.deliveries_enqueue_due() == 1

    [digest] = mail.outbox
    assert digest.to == [user.email]
    assert digest.subject == "3 new notifications on Herald"
    titles = list(user.notifications.values_list("title", flat=True))
    assert all(title in digest.body for title in titles)
    assert all(title in digest.alternatives[0][0] for title in titles)
    sent = email_rows(user).values_list("status", "provider_message_id")
    assert set(sent) == {(DeliveryStatus.SENT, digest.extra_headers["Message-ID"])}
    assert email_rows(other).get().status == DeliveryStatus.PENDING
    assert notification_outbox.kinds_for(user, channel="email") == ["event_updated"] * 3


def test_a_single_low_priority_email_goes_out_as_itself_not_as_a_digest(
    django_capture_on_commit_callbacks,
):
    user = UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        notify_email(user, "low:alone", priority="low")
    email_rows(user).update(next_attempt_at=timezone.now() - timedelta(seconds=1))

    assert tasks.send_email_digest(user.pk) == services.SENT

    [message] = mail.outbox
    assert message.subject == user.notifications.get().title
    assert tasks.send_email_digest(user.pk) == services.SKIPPED
    assert len(mail.outbox) == 1


def test_quiet_hours_deferred_email_is_sent_by_the_sweep_once_the_window_ends(
    django_capture_on_commit_callbacks,
):
    from notifications.models import QuietHours

    user = UserFactory()
    now = timezone.now()
    QuietHours.objects.create(
        user=user,
        start=(now - timedelta(hours=1)).time(),
        end=(now + timedelta(hours=1)).time(),
        time_zone="UTC",
    )
    with django_capture_on_commit_callbacks(execute=True):
        notify_email(user, "event:12:updated:v2")

    delivery = email_rows(user).get()
    assert delivery.next_attempt_at > timezone.now() + timedelta(minutes=50)
    assert services.deliveries_enqueue_due() == 0
    assert mail.outbox == []

    # The night passes.
    earlier = timezone.now() - timedelta(hours=2)
    Delivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1), created_at=earlier
    )
    assert services.deliveries_enqueue_due() == 1

    assert len(mail.outbox) == 1
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT


def test_a_long_digest_lists_the_newest_and_counts_the_rest(settings):
    from notifications.delivery.rendering import DIGEST_MAX_ITEMS

    user = UserFactory()
    rows = [
        DeliveryFactory(
            notification=NotificationFactory(recipient=user, priority="low", title=f"Item {n}"),
            next_attempt_at=timezone.now() - timedelta(seconds=1),
        )
        for n in range(DIGEST_MAX_ITEMS + 5)
    ]

    assert tasks.send_email_digest(user.pk) == services.SENT

    [digest] = mail.outbox
    assert digest.subject == f"{len(rows)} new notifications on Herald"
    assert f"Item {DIGEST_MAX_ITEMS + 4}\n" in digest.body  # the newest
    assert "Item 0\n" not in digest.body
    assert "…and 5 more." in digest.body
    assert "…and 5 more." in digest.alternatives[0][0]


def test_a_second_digest_of_the_same_user_while_one_is_sending_is_skipped(
    django_capture_on_commit_callbacks, settings
):
    from .backends import SecondDigestDuringSendBackend

    SecondDigestDuringSendBackend.second_outcome = []
    settings.EMAIL_BACKEND = "tests.delivery.backends.SecondDigestDuringSendBackend"
    user = UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        for number in range(2):
            notify_email(user, f"low:twice:{number}", priority="low", title=f"News {number}")
    email_rows(user).update(next_attempt_at=timezone.now() - timedelta(seconds=1))

    assert tasks.send_email_digest(user.pk) == services.SENT

    # The claim is a database row, not a cache key: the wiped cache let nobody in.
    assert SecondDigestDuringSendBackend.second_outcome == [services.SKIPPED]
    assert len(mail.outbox) == 1
    # The late row goes out with the next digest, alone.
    assert tasks.send_email_digest(user.pk) == services.SENT
    assert len(mail.outbox) == 2
    assert set(email_rows(user).values_list("status", flat=True)) == {DeliveryStatus.SENT}
