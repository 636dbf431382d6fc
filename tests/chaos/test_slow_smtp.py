"""A slow provider: an SMTP server that accepts and then stalls, and one so slow that a batch
outlives its lease."""

import pytest

from tests.chaos.stack import wait_until

pytestmark = pytest.mark.chaos


def sent_count(stack) -> int:
    return stack.postgres.scalar(
        "SELECT count(*) FROM notifications_delivery WHERE status = 'sent'"
    )


def test_a_stalled_smtp_session_times_out_and_the_email_is_sent_once_on_retry(make_stack, smtp):
    smtp.stall_next = 1
    stack = make_stack(**smtp.env())
    [user] = stack.users_with_sessions(1, prefix="stall")
    stack.start_worker()

    stack.django("""
        from django.contrib.auth import get_user_model
        from notifications.services import notify
        notify(kind="event_updated", dedupe_key="stall:1", context={"event_title": "Chaos"},
               recipients=get_user_model().objects.filter(username__startswith="stall"))
    """)

    wait_until(lambda: sent_count(stack) == 1, timeout=60, what="the retried email")
    assert smtp.stalled == 1
    assert smtp.per_recipient() == {user["email"]: 1}
    [(attempts, last_error)] = stack.postgres.query(
        "SELECT attempts, last_error FROM notifications_delivery"
    )
    assert (attempts, last_error) == (2, "")


def test_a_batch_slower_than_its_lease_sends_each_email_once(make_stack, smtp):
    # Each message takes 1 s (inside EMAIL_TIMEOUT=2 s), a batch of 12 takes longer than the
    # 10 s lease: rows with too little lease left are given back and another process sends them.
    smtp.delay = 1.0
    stack = make_stack(**smtp.env())
    users = stack.users_with_sessions(12, prefix="slow")
    worker = stack.start_worker()
    stack.start_beat()

    stack.django("""
        from django.contrib.auth import get_user_model
        from notifications.services import notify
        notify(kind="event_updated", dedupe_key="slow:1", context={"event_title": "Chaos"},
               recipients=get_user_model().objects.filter(username__startswith="slow"))
    """)

    wait_until(lambda: sent_count(stack) == len(users), timeout=120, what="every email sent")
    assert smtp.per_recipient() == {user["email"]: 1 for user in users}
    assert "'released'" in stack.log_of(worker)  # the batch gave rows back instead of racing
