"""Notifications for the UI tests, made the way every app makes them: through ``notify``."""

import uuid

from django.db import transaction

from notifications.services import notify


def send(user, *, title: str = "Board games night", kind: str = "event_updated",
         priority: str | None = None, url: str = "/events/", change: str = "Room changed"):
    """One notification of ``kind`` to ``user``, committed (delivery runs on commit)."""
    with transaction.atomic():
        notify(
            kind=kind,
            recipients=[user],
            context={"event_title": title, "changes": [{"text": change}]},
            dedupe_key=f"ui-test:{uuid.uuid4().hex}",
            priority=priority,
            url=url,
        )
    return user.notifications.order_by("-id").first()


def send_many(user, count: int, *, title: str = "Update", **kwargs) -> list:
    return [send(user, title=f"{title} {n}", **kwargs) for n in range(1, count + 1)]


def off_the_browser_loop(function, *args, **kwargs):
    """Run ``function`` on a worker thread and return its result.

    Playwright's sync API keeps an event loop running on the test's thread, where
    ``async_to_sync`` (the channel layer push after commit) refuses to run. The thread gets its
    own database connection, closed before returning so nothing holds the test database.
    """
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    def run():
        try:
            return function(*args, **kwargs)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()
