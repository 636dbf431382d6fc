"""A page that never reads its socket while more than the channel capacity (1,000) is sent to
it: the web process keeps no more than ``WEBSOCKET_SEND_BUFFER_BYTES`` unsent for it, then
closes it and counts and logs what it dropped; other users lose nothing, the server stays up,
and the slow page catches up when it reconnects."""

import asyncio

import pytest
import websockets

from tests.chaos.sockets import PageSocket
from tests.chaos.stack import wait_until

pytestmark = pytest.mark.chaos

FLOOD = 1200
OTHERS = 50
SEND_BUFFER = 16 * 1024

BURST = f"""
from django.utils import timezone
from notifications.realtime import push
from notifications.models import Notification
from django.contrib.auth import get_user_model
User = get_user_model()
slow, fast = User.objects.get(username="slow0"), User.objects.get(username="fast0")
now = timezone.now()
def rows(user, count, key):
    # Stored rows as notify() leaves them, in bulk: the point is the push, not the insert.
    return Notification.objects.bulk_create([
        Notification(recipient=user, kind="event_updated", title=f"{{key}} {{n}}", body="",
                     dedupe_key=f"{{key}}:{{n}}", created_at=now, data={{}})
        for n in range(count)
    ])
flood = rows(slow, {FLOOD}, "flood")
others = rows(fast, {OTHERS}, "others")
# The flood first, then the other user's: behind {FLOOD} undrained events of someone else.
push.push_notifications([row.pk for row in flood])
push.push_notifications([row.pk for row in others])
result = {{"flood": [row.pk for row in flood], "others": [row.pk for row in others]}}
"""

DROPPED = """
import glob, os
from prometheus_client import multiprocess
# Counter files only: a process starting meanwhile (this one's metrics sampler) may have created
# its gauge file and not yet sized it, which the collector cannot read.
files = glob.glob(os.path.join(os.environ["PROMETHEUS_MULTIPROC_DIR"], "counter_*.db"))
result = {sample.name: sample.value
          for family in multiprocess.MultiProcessCollector.merge(files, accumulate=True)
          for sample in family.samples if sample.name in (
              "herald_websocket_frames_dropped_total", "herald_websocket_bytes_dropped_total",
              "herald_websocket_slow_closed_total")}
"""


def test_a_client_that_never_reads_is_closed_counted_and_catches_up(make_stack):
    # A small bound and stall, so a flood of 1,200 toasts is far over it and the other user's
    # burst of 50 (about 26 KB, unsent for a moment) is drained well within the stall.
    stack = make_stack(
        WEBSOCKET_SEND_BUFFER_BYTES=str(SEND_BUFFER), WEBSOCKET_SEND_STALL_SECONDS="1"
    )
    web, _ = stack.start(web=True, worker=True)
    users = stack.users(slow=1, fast=1)
    [slow], [fast] = users["slow"], users["fast"]

    async def scenario():
        fast_page = await PageSocket(stack.base_url, fast["cookie"]).connect()
        # The slow page reads one frame, then never again (its TCP window fills up).
        never_reads = await websockets.connect(
            stack.base_url.replace("http", "ws", 1) + "/ws/notifications/?last_id=0",
            additional_headers={"Cookie": slow["cookie"]}, origin=stack.base_url, max_queue=1,
        )
        await fast_page.wait_for(lambda p: p.frames, what="the first badge")
        sent = await asyncio.to_thread(stack.django, BURST)
        await fast_page.wait_for(lambda p: set(sent["others"]) <= set(p.ids), timeout=90,
                                 what="every notification of the other user")
        assert web.poll() is None
        # The server closed the slow socket rather than keep what it does not read.
        await asyncio.to_thread(
            wait_until, lambda: "stopped reading" in stack.log_of(web), timeout=30,
            what="the slow socket to be closed",
        )
        await never_reads.close()
        # The slow page comes back (its script reconnects after the abnormal close): it
        # catches up.
        caught_up = await PageSocket(stack.base_url, slow["cookie"]).connect()
        await caught_up.wait_for(lambda p: p.ids, timeout=60, what="the slow page's catch-up")
        await asyncio.gather(fast_page.close(), caught_up.close())
        return sent, fast_page, caught_up

    sent, fast_page, caught_up = asyncio.run(scenario())
    assert set(fast_page.ids) == set(sent["others"])
    # The catch-up shows the newest and says how many more are in the center.
    assert set(caught_up.ids) <= set(sent["flood"])
    assert max(caught_up.ids) == max(sent["flood"])
    assert "more" in caught_up.frames[0]
    # What was dropped is counted and logged at WARNING, once for the one slow socket.
    counted = stack.django(DROPPED)
    assert counted["herald_websocket_slow_closed_total"] == 1
    assert counted["herald_websocket_frames_dropped_total"] >= 1
    assert counted["herald_websocket_bytes_dropped_total"] > SEND_BUFFER
    warnings = [line for line in stack.log_of(web).splitlines() if "stopped reading" in line]
    assert len(warnings) == 1 and "WARNING" in warnings[0], warnings
