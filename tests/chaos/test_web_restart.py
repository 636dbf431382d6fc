"""The web process stopped with SIGTERM and then killed with SIGKILL while 100 pages are open:
pages reconnect, and what was created while the web was down reaches each page exactly once."""

import asyncio
import signal

import pytest

from tests.chaos.sockets import PageSocket

pytestmark = pytest.mark.chaos

PAGES = 100

NOTIFY_ALL = """
from django.contrib.auth import get_user_model
from notifications.models import Notification
from notifications.services import notify
notify(kind="event_updated", dedupe_key="{key}", context={{"event_title": "While down"}},
       recipients=get_user_model().objects.filter(username__startswith="page"))
result = dict(Notification.objects.filter(dedupe_key="{key}").values_list("recipient_id", "id"))
"""


def test_pages_reconnect_after_sigterm_and_sigkill_and_see_what_was_missed_once(make_stack):
    # A supervisor and two daphne processes, as services mode runs on two cores: SIGTERM reaches
    # each through the supervisor.
    stack = make_stack(NOTIFICATIONS_RATE_LIMIT_COUNT="100", WEB_PROCESSES="2")
    web, _ = stack.start(web=True, worker=True)
    users = stack.users(page=PAGES)["page"]

    async def scenario():
        nonlocal web
        pages = {user["id"]: PageSocket(stack.base_url, user["cookie"]) for user in users}
        await asyncio.gather(*(page.connect() for page in pages.values()))
        for page in pages.values():
            await page.wait_for(lambda p: p.frames, what="the first badge")

        missed = []
        for sig, code in ((signal.SIGTERM, 1012), (signal.SIGKILL, 1006)):
            await asyncio.to_thread(stack.kill, web, sig)
            for page in pages.values():
                await page.wait_for(lambda p, code=code: code in p.close_codes,
                                    what=f"close code {code}")
            # Created while no web process runs: only the database has it.
            created = await asyncio.to_thread(
                stack.django, NOTIFY_ALL.format(key=f"down:{sig.name}")
            )
            missed.append({int(user): notification for user, notification in created.items()})
            web = await asyncio.to_thread(stack.start_web)
            for user_id, page in pages.items():
                await page.wait_for(
                    lambda p, wanted=missed[-1][user_id]: wanted in p.ids, timeout=90,
                    what="the notification created while the web was down",
                )
        await asyncio.gather(*(page.close() for page in pages.values()))
        return pages, missed

    pages, missed = asyncio.run(scenario())
    for user_id, page in pages.items():
        wanted = {round_[user_id] for round_ in missed}
        # On screen once: each shown notification is one DOM id; nothing else arrived.
        assert set(page.ids) == wanted
        assert page.connects >= 3
