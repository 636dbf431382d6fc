"""The notification center in real Chromium against the real ASGI stack (daphne + Redis).

Each test opens pages in their own browser contexts (one per user), acts through the pages or
through the services, and watches what the page shows without reloading it.
"""

import re

import pytest
from playwright.sync_api import expect

from events.services import event_update
from notifications.models import Notification
from tests.ui.factories import UserFactory
from tests.ui.helpers import a_registered_event, badge, expect_live, send, send_many
from tests.ui.helpers import off_the_browser_loop as off_loop
from tests.ui.helpers import screenshot

pytestmark = pytest.mark.browser

LIVE_WITHIN_MS = 2000


def test_attendee_gets_a_toast_and_badge_without_reload_when_the_organizer_edits(open_page):
    attendee = UserFactory()
    organizer, event = off_loop(a_registered_event, attendee)
    attendee_page = open_page(attendee, f"/events/{event.pk}/")
    expect_live(attendee_page)
    expect(badge(attendee_page)).to_be_hidden()

    organizer_page = open_page(organizer, f"/events/{event.pk}/edit/")
    organizer_page.fill("#id_location", "Room B, second floor")
    organizer_page.locator("#id_location").press("Enter")

    toast = attendee_page.locator("#notification-toasts .toast")
    expect(toast).to_have_count(1, timeout=LIVE_WITHIN_MS)
    expect(toast).to_contain_text("Board games night")
    expect(toast).to_contain_text("Room B")
    expect(badge(attendee_page)).to_have_text("1", timeout=LIVE_WITHIN_MS)
    expect(badge(attendee_page)).to_be_visible()
    toast.hover()  # Hovering keeps it open for the picture.
    screenshot(attendee_page, "toast.png")


def test_mark_all_read_from_the_dropdown_hides_the_badge_and_stays_read(open_page):
    attendee = UserFactory()
    organizer, event = off_loop(a_registered_event, attendee)
    off_loop(event_update, event=event, actor=organizer, changes={"location": "Room C"})
    page = open_page(attendee, "/")
    expect(badge(page)).to_have_text("1")

    page.click("#notification-bell")
    dropdown = page.locator("#notification-dropdown")
    expect(dropdown).to_be_visible()
    expect(dropdown.locator(".dropdown-item.is-unread")).to_have_count(1)
    dropdown.locator("[data-action='mark-all-read']").click()
    expect(badge(page)).to_be_hidden()
    expect(dropdown.locator(".dropdown-item.is-unread")).to_have_count(0)

    page.reload()
    expect(badge(page)).to_be_hidden()
    assert not Notification.objects.filter(recipient=attendee, is_read=False).exists()


def test_notifications_made_while_the_server_was_down_arrive_once_after_restart(
    open_page, asgi_server
):
    user = UserFactory()
    page = open_page(user, "/notifications/")
    expect_live(page)

    asgi_server.stop()
    expect(page.locator("#connection-state")).to_have_attribute(
        "data-state", re.compile("reconnecting|offline")
    )
    missed = off_loop(send_many, user, 2, title="While you were away")
    asgi_server.start()

    # The page retries with jittered backoff capped at 5 s, so allow for one full wait.
    expect_live(page, timeout=15000)
    for notification in missed:
        expect(page.locator(f"#notification-{notification.pk}")).to_have_count(1)
        expect(page.locator(f"#center-notification-{notification.pk}")).to_have_count(1)
    expect(badge(page)).to_have_text("2")
    page.wait_for_timeout(500)  # A duplicate would arrive with the catch-up; none does.
    assert page.locator("#notification-toasts .toast").count() == 2


def test_offline_page_catches_up_on_all_three_when_back_online(open_page):
    user = UserFactory()
    page = open_page(user, "/notifications/")
    expect_live(page)

    page.context.set_offline(True)
    expect(page.locator("#connection-state")).to_have_attribute("data-state", "offline")
    missed = off_loop(send_many, user, 3, title="Sent while offline")
    page.context.set_offline(False)

    expect_live(page)
    for notification in missed:
        expect(page.locator(f"#notification-{notification.pk}")).to_have_count(1)
        expect(page.locator(f"#center-notification-{notification.pk}")).to_have_count(1)
    expect(badge(page)).to_have_text("3")


def test_turning_off_in_app_for_event_updates_means_no_toast_and_no_row(
    open_page, notification_outbox
):
    attendee = UserFactory()
    organizer, event = off_loop(a_registered_event, attendee)
    page = open_page(attendee, "/notifications/preferences/")
    page.locator("input[name='event_updated__in_app']").uncheck()
    page.get_by_role("button", name="Save channels").click()
    expect(page.locator(".message-success")).to_contain_text("saved")
    expect_live(page)

    off_loop(event_update, event=event, actor=organizer, changes={"location": "Room D"})
    # A later notification of another kind arrives; the update, sent first, never does.
    sentinel = off_loop(send, attendee, kind="waitlist_joined", title="Sentinel")
    expect(page.locator(f"#notification-{sentinel.pk}")).to_have_count(1)
    expect(page.locator("#notification-toasts .toast")).to_have_count(1)

    assert not Notification.objects.filter(
        recipient=attendee, kind="event_updated", in_app=True
    ).exists()
    assert "event_updated" not in notification_outbox.kinds_for(attendee, channel="in_app")
    # The update did happen: its email still goes out.
    assert Notification.objects.filter(recipient=attendee, kind="event_updated").exists()


def test_click_through_marks_read_and_lands_on_the_event_page(open_page):
    attendee = UserFactory()
    organizer, event = off_loop(a_registered_event, attendee)
    off_loop(event_update, event=event, actor=organizer, changes={"location": "Room E"})
    for n in range(3):
        off_loop(
            send, attendee, kind="event_reminder", title=f"Reminder {n}",
            url=event.get_absolute_url(),
        )
    notification = Notification.objects.get(recipient=attendee, kind="event_updated")
    page = open_page(attendee, "/notifications/")
    expect_live(page)
    screenshot(page, "notification-center.png", full_page=True)

    page.locator(f"#center-notification-{notification.pk} .row-link").click()
    expect(page).to_have_url(re.compile(rf"/events/{event.pk}/$"))
    notification.refresh_from_db()
    assert notification.is_read and notification.clicked_at is not None
