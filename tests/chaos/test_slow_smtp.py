"""A slow provider: an SMTP server that accepts and then stalls, then one so slow that a batch
outlives its lease (EMAIL_TIMEOUT=1 s, DELIVERY_CLAIM_SECONDS=6 s in the chaos stack)."""

import pytest

from tests.chaos.stack import wait_until

pytestmark = pytest.mark.chaos

NOTIFY = """
from django.contrib.auth import get_user_model
from notifications.services import notify
notify(kind="event_updated", dedupe_key="{prefix}:1", context={{"event_title": "Chaos"}},
       recipients=get_user_model().objects.filter(username__startswith="{prefix}"))
"""


def sent_count(stack, prefix: str) -> int:
    return stack.postgres.scalar(
        "SELECT count(*) FROM notifications_delivery WHERE status = 'sent' AND notification_id "
        "IN (SELECT id FROM notifications_notification WHERE dedupe_key = %s)", (f"{prefix}:1",)
    )


def test_a_stalled_or_slow_smtp_server_never_gets_an_email_twice(make_stack, smtp):
    stack = make_stack(**smtp.env())
    worker, _ = stack.start(worker=True, beat=True)
    users = stack.users(stall=1, slow=10)

    # 1. The server takes the message and never answers: the attempt times out and is retried.
    smtp.stall_next = 1
    stack.django(NOTIFY.format(prefix="stall"))
    wait_until(lambda: sent_count(stack, "stall") == 1, timeout=60, what="the retried email")
    [stalled] = users["stall"]
    assert smtp.stalled == 1
    assert smtp.per_recipient() == {stalled["email"]: 1}
    [(attempts, last_error)] = stack.postgres.query(
        "SELECT attempts, last_error FROM notifications_delivery"
    )
    assert (attempts, last_error) == (2, "")

    # 2. Each message takes 0.7 s (inside the timeout): ten of them outlive one 6 s lease. Rows
    # with too little lease left are given back and another worker process sends them.
    smtp.delay = 0.7
    stack.django(NOTIFY.format(prefix="slow"))
    wait_until(lambda: sent_count(stack, "slow") == 10, timeout=120, what="every slow email")
    assert smtp.per_recipient() == {user["email"]: 1 for user in users["stall"] + users["slow"]}
    assert "'released'" in stack.log_of(worker)  # the batch gave rows back instead of racing
