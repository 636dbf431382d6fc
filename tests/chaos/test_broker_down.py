"""The broker is down when notify() commits: the caller's transaction still commits, and the
in-app pushes, the emails and the "and N more" summary go out once the broker is back."""

import asyncio
import re

import pytest

from tests.chaos.sockets import PageSocket
from tests.chaos.stack import wait_until

pytestmark = pytest.mark.chaos


def test_broker_down_at_commit_everything_owed_goes_out_once_it_is_back(make_stack, smtp):
    stack = make_stack(
        separate_broker=True,
        NOTIFICATIONS_RATE_LIMIT_COUNT="2",
        NOTIFICATIONS_RATE_LIMIT_WINDOW_SECONDS="10",
        NOTIFICATIONS_RELAY_GRACE_SECONDS="8",
        **smtp.env(),
    )
    stack.start(web=True, worker=True, beat=True)
    [alice] = stack.users_with_sessions(1, prefix="alice")

    async def scenario():
        page = await PageSocket(stack.base_url, alice["cookie"]).connect()
        await page.wait_for(lambda p: p.frames, what="the first badge")
        stack.broker.kill()
        ids = await asyncio.to_thread(stack.django, """
            import math, time
            from django.db import transaction
            from notifications.services import notify
            # The rate limit counts in fixed 10 s windows: all three calls in one window (each
            # takes a second or more while the broker refuses), or the third is not over it.
            if math.fmod(time.time(), 10) > 0.5:
                time.sleep(10 - math.fmod(time.time(), 10))
            result = []
            for number in range(3):
                with transaction.atomic():
                    result += notify(kind="event_updated", recipients=[%d],
                                     dedupe_key=f"down:{number}",
                                     context={"event_title": "Chaos"}).notification_ids
        """ % alice["id"])
        # Committed; every call still owes its after-commit work.
        assert len(ids) == 3
        assert stack.postgres.scalar("SELECT count(*) FROM notifications_notifyrelay") == 3
        stack.broker.start()
        # The relay pushes the two toasts (the third was over the rate limit), then the summary.
        # (A page that reconnected meanwhile caught the two up from the database as well.)
        await page.wait_for(
            lambda p: {ids[0], ids[1]} <= set(p.ids) and any(i > ids[2] for i in p.ids),
            timeout=90, what="the relayed toasts and the summary",
        )
        await page.close()
        return ids, page

    ids, page = asyncio.run(scenario())
    assert ids[2] not in page.ids  # rate-limited: stored, counted in the summary, not toasted
    [(summary_id, title)] = stack.postgres.query(
        "SELECT id, title FROM notifications_notification WHERE kind = 'rate_limit_summary'"
    )
    assert "and 1 more" in title and summary_id in page.ids
    # The two emails, each exactly once.
    wait_until(lambda: smtp.count() >= 2, timeout=60, what="the emails")
    wait_until(
        lambda: stack.postgres.scalar("SELECT count(*) FROM notifications_notifyrelay") == 0,
        timeout=30, what="the relay to finish",
    )
    sent = {
        int(re.search(r"notification\.(\d+)@", message_id).group(1))
        for _, message_id in smtp.accepted
    }
    assert sent == {ids[0], ids[1]} and smtp.count() == 2
