"""The after-commit pipeline through the real Redis broker and a real Celery worker."""

import time

import pytest
from asgiref.sync import sync_to_async
from django.db import transaction

from notifications.kinds import GAME_SCORED, RATE_LIMIT_SUMMARY
from notifications.models import Notification
from notifications.services import notify
from tests.celery_worker import wait_for
from tests.pipeline.test_consumer import badge, socket, toast_ids, user_with_cookie

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_worker_pushes_the_toast_after_commit(celery_worker):
    alice, cookie = await sync_to_async(user_with_cookie)("alice")
    ws = socket(cookie)
    assert (await ws.connect())[0]

    def scored():
        with transaction.atomic():
            return notify(kind=GAME_SCORED, recipients=[alice], context={"total": 42},
                          dedupe_key="game:1:scored").notification_ids[0]

    notification_id = await sync_to_async(scored)()

    fragment = await ws.receive_from(timeout=10)
    assert toast_ids(fragment) == [notification_id]
    assert badge(fragment) == "1"
    await ws.disconnect()


def test_the_summary_arrives_at_the_end_of_the_window_with_the_full_count(celery_worker, settings, alice):
    settings.NOTIFICATIONS_RATE_LIMIT_COUNT = 2
    settings.NOTIFICATIONS_RATE_LIMIT_WINDOW_SECONDS = 5
    while time.time() % 5 > 0.5:  # start the burst early in a window, with seconds to spare
        time.sleep(0.05)

    for n in range(6):  # separate transactions, as separate requests would be
        with transaction.atomic():
            notify(kind=GAME_SCORED, recipients=[alice], context={"total": n},
                   dedupe_key=f"game:{n}:scored")

    # Not before the window ends: the count is still growing then.
    assert not Notification.objects.filter(kind=RATE_LIMIT_SUMMARY).exists()
    assert wait_for(lambda: Notification.objects.filter(kind=RATE_LIMIT_SUMMARY).exists(), 15)
    summary = Notification.objects.get(recipient=alice, kind=RATE_LIMIT_SUMMARY)
    assert summary.data["count"] == 4
    assert summary.title == "and 4 more “Game scored” notifications"
