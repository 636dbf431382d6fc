"""Notifications for the UI tests, made the way every app makes them: through ``notify``."""

import uuid
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from playwright.sync_api import expect

from events.services import event_create, registration_create
from notifications.services import notification_mark_all_read, notify
from tests.ui.factories import UserFactory


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


def a_registered_event(attendee, *, title: str = "Board games night"):
    """An event ``attendee`` is registered for, with the registration's own notice read."""
    organizer = UserFactory()
    # Whole minutes, as the edit form's datetime-local fields submit them.
    start = (timezone.now() + timedelta(days=3)).replace(second=0, microsecond=0)
    event = event_create(
        organizer=organizer, title=title, location="Room A", starts_at=start,
        ends_at=start + timedelta(hours=2), capacity=10,
    )
    registration_create(user=attendee, event=event)
    notification_mark_all_read(user=attendee)
    return organizer, event


def expect_live(page, timeout: float | None = None):
    expect(page.locator("#connection-state")).to_have_attribute(
        "data-state", "live", timeout=timeout
    )


def badge(page):
    return page.locator("#notification-badge")


def screenshot(page, name: str, **options) -> None:
    """A picture for the docs, taken by the test run into docs/img/.

    An existing picture is replaced only with UPDATE_SCREENSHOTS=1, so an ordinary run leaves
    the checkout clean; otherwise the shot still goes through Chromium, into a scratch folder.
    """
    import os
    import tempfile
    from pathlib import Path

    from tests.ui.conftest import IMG_DIR

    target = IMG_DIR / name
    if target.exists() and os.environ.get("UPDATE_SCREENSHOTS") != "1":
        target = Path(tempfile.gettempdir()) / "herald-screenshots" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target), **options)
    assert target.stat().st_size > 0
