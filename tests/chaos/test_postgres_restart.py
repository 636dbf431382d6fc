"""PostgreSQL restarted (a clean stop and start, as for maintenance or a failover) while the web
answers, a fan-out is being written and a delivery batch is being sent."""

import time

import httpx
import pytest

from tests.chaos.stack import wait_until

pytestmark = pytest.mark.chaos

FAN_OUTS = 4
RECIPIENTS = 40

FAN_OUT_LOOP = f"""
import sys, time
from django.contrib.auth import get_user_model
from django.db import InterfaceError, OperationalError, connection, transaction
from notifications.services import notify

users = list(get_user_model().objects.filter(username__startswith="fan")
             .values_list("pk", flat=True))
retries = 0
for number in range({FAN_OUTS}):
    while True:
        try:
            with transaction.atomic():
                notify(kind="event_updated", recipients=users, dedupe_key=f"fan:{{number}}",
                       context={{"event_title": f"Chaos {{number}}"}})
            break
        except (OperationalError, InterfaceError):
            retries += 1
            connection.close()
            time.sleep(0.2)
    print(f"fan-out {{number}} committed", flush=True)
    time.sleep(0.5)
result = {{"retries": retries}}
"""


def test_postgres_restart_loses_no_fan_out_sends_each_email_once_and_web_recovers(
    make_stack, smtp
):
    smtp.delay = 0.02  # a provider that takes a moment, so the restart meets a batch mid-way
    stack = make_stack(**smtp.env())
    # Beat: the sweep sends rows a batch gave back while waiting out the restart.
    _, _, beat = stack.start(web=True, worker=True, beat=True)
    [viewer] = stack.users(viewer=1, fan=RECIPIENTS)["viewer"]
    center = f"{stack.base_url}/notifications/"
    cookies = dict([viewer["cookie"].split("=", 1)])
    assert httpx.get(center, cookies=cookies, timeout=30).status_code == 200

    writer = stack.django_background("fan-out", FAN_OUT_LOOP)
    wait_until(lambda: "fan-out 0 committed" in stack.log_of(writer), what="a fan-out")
    wait_until(lambda: smtp.count() > 0, what="the first emails")

    stack.postgres.stop("fast")
    # The database is away: pages answer 503 with Retry-After, not 500.
    response = httpx.get(center, cookies=cookies, timeout=30)
    assert response.status_code == 503, response.text[:500]
    assert response.headers["Retry-After"]
    time.sleep(2)  # the outage itself
    stack.postgres.start()

    # The web recovers by itself.
    wait_until(lambda: httpx.get(center, cookies=cookies, timeout=30).status_code == 200, what="web back")
    stack.result_of(writer)

    # Every fan-out is all or nothing, and after its retry, all.
    counts = dict(stack.postgres.query(
        "SELECT dedupe_key, count(*) FROM notifications_notification "
        "WHERE dedupe_key LIKE 'fan:%%' GROUP BY dedupe_key"
    ))
    assert counts == {f"fan:{n}": RECIPIENTS for n in range(FAN_OUTS)}
    # Every email is sent, exactly once.
    wait_until(
        lambda: stack.postgres.scalar(
            "SELECT count(*) FROM notifications_delivery WHERE status = 'sent'"
        ) == FAN_OUTS * RECIPIENTS,
        # Rows that failed while the database was away wait for their retry (backoff) and the
        # every-minute sweep.
        timeout=300, what="every delivery sent",
    )
    assert smtp.count() == FAN_OUTS * RECIPIENTS
    assert set(smtp.per_recipient().values()) == {FAN_OUTS}
    assert stack.postgres.scalar(
        "SELECT count(*) FROM notifications_delivery WHERE status <> 'sent'"
    ) == 0
    assert beat.poll() is None  # beat rode out the restart too
