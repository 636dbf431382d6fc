"""Browser details beyond the six scenarios: bursts, banners, keyboard, phone width, polling,
the service worker's offline copy, and the center working with JavaScript turned off."""

import re

import pytest
from playwright.sync_api import expect

from events.services import event_cancel
from notifications.models import Notification
from tests.ui.factories import UserFactory
from tests.ui.helpers import a_registered_event, badge, expect_live, send, send_many
from tests.ui.helpers import off_the_browser_loop as off_loop
from tests.ui.helpers import screenshot

pytestmark = pytest.mark.browser


def test_a_burst_collapses_into_one_summary_toast(open_page):
    user = UserFactory()
    page = open_page(user, "/")
    expect_live(page)
    # Five kinds, so the pipeline's per-kind rate limit stays out of it: all five are toasts.
    kinds = ["event_updated", "registration_confirmed", "waitlist_joined", "capacity_warning",
             "event_reminder"]
    off_loop(lambda: [send(user, kind=kind, title="Burst") for kind in kinds])
    summary = page.locator("#notification-toasts .toast-summary")
    expect(summary).to_contain_text("5 new notifications")
    expect(page.locator("#notification-toasts .toast")).to_have_count(1)
    expect(badge(page)).to_have_text("5")


def test_toasts_are_announced_and_closable(open_page):
    user = UserFactory()
    page = open_page(user, "/")
    expect_live(page)
    expect(page.locator("#notification-toasts")).to_have_attribute("aria-live", "polite")
    notification = off_loop(send, user, title="Closable")
    toast = page.locator(f"#notification-{notification.pk}")
    expect(toast).to_be_visible()
    toast.get_by_role("button", name="Close").click()
    expect(toast).to_have_count(0)


def test_urgent_cancellation_is_a_banner_pinned_until_dismissed(open_page):
    attendee = UserFactory()
    organizer, event = off_loop(a_registered_event, attendee, title="Summer picnic")
    page = open_page(attendee, "/")
    expect_live(page)
    off_loop(event_cancel, event=event, actor=organizer)
    banner = page.locator("#notification-banners .banner")
    expect(banner).to_contain_text("Summer picnic")
    expect(page.locator("#notification-toasts .toast")).to_have_count(0)
    page.reload()
    expect(banner).to_have_count(1)  # Still pinned on the next page.

    banner.get_by_role("button", name="Dismiss").click()
    expect(banner).to_have_count(0)
    expect(badge(page)).to_be_hidden()
    page.reload()
    expect(page.locator("#notification-banners .banner")).to_have_count(0)
    assert not Notification.objects.filter(recipient=attendee, is_read=False).exists()


def test_the_dropdown_works_from_the_keyboard_with_visible_focus(open_page):
    user = UserFactory()
    off_loop(send, user, title="Keyboard")
    page = open_page(user, "/")
    bell = page.locator("#notification-bell")
    for _ in range(10):  # Tab from the top of the page until the bell has focus.
        page.keyboard.press("Tab")
        if bell.evaluate("element => element === document.activeElement"):
            break
    expect(bell).to_be_focused()
    outline = bell.evaluate("element => getComputedStyle(element).outlineStyle")
    assert outline != "none"

    page.keyboard.press("Enter")
    expect(page.locator("#notification-dropdown")).to_be_visible()
    expect(bell).to_have_attribute("aria-expanded", "true")
    expect(page.locator("#notification-dropdown .dropdown-item")).to_have_count(1)
    page.keyboard.press("Escape")
    expect(page.locator("#notification-dropdown")).to_be_hidden()
    expect(bell).to_be_focused()


def test_phone_width_layout_has_no_sideways_scrolling(open_page):
    user = UserFactory()
    off_loop(send_many, user, 4, title="A rather long notification title on a small screen")
    page = open_page(user, "/notifications/", viewport={"width": 375, "height": 740})
    expect(page.locator(".notification-row")).to_have_count(4)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    screenshot(page, "notification-center-phone.png")
    for path in ("/notifications/preferences/", "/"):
        page.goto(path)
        assert page.evaluate("document.documentElement.scrollWidth") <= 375, path
    page.click("#notification-bell")
    expect(page.locator("#notification-dropdown")).to_be_in_viewport(ratio=1)


def test_badge_and_list_are_polled_while_the_socket_is_down(open_page, browser, asgi_server):
    user = UserFactory()
    page = open_page(user, "/notifications/")
    expect_live(page)
    # From now on every socket the page opens is refused by the "network" with 1011.
    page.route_web_socket(re.compile(r".*/ws/notifications/.*"), lambda ws: ws.close(code=1011))
    page.context.set_offline(True)
    page.context.set_offline(False)  # Drops the socket; reconnects now hit the refusing route.
    expect(page.locator("#connection-state")).to_have_attribute("data-state", "reconnecting")

    notification = off_loop(send, user, title="Arrived by polling")
    expect(badge(page)).to_have_text("1")
    expect(page.locator(f"#center-notification-{notification.pk}")).to_have_count(1)
    expect(page.locator("#connection-state")).to_have_attribute("data-state", "reconnecting")


def test_the_last_seen_center_opens_offline_from_the_service_worker(open_page):
    user = UserFactory()
    notification = off_loop(send, user, title="Readable offline")
    page = open_page(user, "/notifications/")
    page.wait_for_function(
        "navigator.serviceWorker && navigator.serviceWorker.controller !== null", polling=100
    )
    page.reload()  # Fetched through the worker now, which keeps this copy.
    expect_live(page)

    page.context.set_offline(True)
    page.goto("/notifications/")
    expect(page.locator(f"#center-notification-{notification.pk}")).to_be_visible()
    expect(page.locator("#connection-state")).to_have_attribute("data-state", "offline")
    expect(page.locator(".offline-notice")).to_be_visible()
    screenshot(page, "notification-center-offline.png")
    page.goto("/events/")
    expect(page.get_by_role("heading", name="You are offline")).to_be_visible()

    page.context.set_offline(False)
    page.goto("/notifications/")
    expect_live(page)
    expect(page.locator(".offline-notice")).to_be_hidden()


def test_center_actions_work_without_javascript(browser, asgi_server):
    from django.conf import settings
    from django.test import Client

    user = UserFactory()
    notification = off_loop(send, user, title="No script needed")
    client = Client()
    client.force_login(user)
    context = browser.new_context(base_url=asgi_server.url, java_script_enabled=False)
    context.add_cookies([{
        "name": settings.SESSION_COOKIE_NAME,
        "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
        "url": asgi_server.url,
    }])
    try:
        page = context.new_page()
        page.goto("/notifications/")
        row = page.locator(f"#center-notification-{notification.pk}")
        row.get_by_role("button", name="Mark read").click()
        expect(row).to_have_class(re.compile(r"\bis-read\b"))
        row.get_by_role("button", name="Dismiss").click()
        expect(row).to_have_count(0)
        expect(page).to_have_url(re.compile(r"/notifications/$"))
    finally:
        context.close()
    notification.refresh_from_db()
    assert notification.is_read and notification.dismissed_at is not None


def test_toasts_leave_on_their_own_unless_hovered(open_page):
    user = UserFactory()
    page = open_page(user, "/")
    expect_live(page)
    kept, left = off_loop(send_many, user, 2, title="Toast")
    page.locator(f"#notification-{kept.pk}").hover()
    expect(page.locator(f"#notification-{left.pk}")).to_have_count(0, timeout=9000)
    expect(page.locator(f"#notification-{kept.pk}")).to_be_visible()


def test_row_actions_update_the_row_and_badge_in_place(open_page):
    user = UserFactory()
    older, newer = off_loop(send_many, user, 2, title="In place")
    page = open_page(user, "/notifications/")
    expect(badge(page)).to_have_text("2")
    row = page.locator(f"#center-notification-{newer.pk}")
    row.get_by_role("button", name="Mark read").click()
    expect(row).to_have_class(re.compile(r"\bis-read\b"))
    expect(badge(page)).to_have_text("1")
    row.get_by_role("button", name="Mark unread").click()
    expect(row).to_have_class(re.compile(r"\bis-unread\b"))
    expect(badge(page)).to_have_text("2")
    page.locator(f"#center-notification-{older.pk}").get_by_role("button", name="Dismiss").click()
    expect(page.locator(f"#center-notification-{older.pk}")).to_have_count(0)
    expect(badge(page)).to_have_text("1")
    page.get_by_role("button", name="Clear all").click()
    expect(badge(page)).to_be_hidden()
    expect(page.locator(".notification-row.is-unread")).to_have_count(0)


def test_load_more_appends_older_rows_and_filters_swap_the_list(open_page):
    user = UserFactory()
    sent = off_loop(send_many, user, 23, title="Page")
    page = open_page(user, "/notifications/")
    expect(page.locator(".notification-row")).to_have_count(20)
    # The burst also made the pipeline's "and N more" summary: every visible row counts.
    total = Notification.objects.filter(recipient=user, in_app=True).count()
    assert 20 < total <= 40
    page.get_by_role("link", name="Load more").click()
    expect(page.locator(".notification-row")).to_have_count(total)
    expect(page.locator(f"#center-notification-{sent[0].pk}")).to_be_visible()
    expect(page.get_by_role("link", name="Load more")).to_have_count(0)

    Notification.objects.filter(recipient=user).exclude(pk=sent[0].pk).update(is_read=True)
    page.get_by_role("radio", name="Unread").check()
    expect(page.locator(".notification-row")).to_have_count(1)
    expect(page).to_have_url(re.compile(r"show=unread"))


def test_mark_all_read_in_the_dropdown_also_updates_the_open_center(open_page):
    user = UserFactory()
    off_loop(send_many, user, 2, title="Both places")
    page = open_page(user, "/notifications/")
    expect(page.locator(".notification-row.is-unread")).to_have_count(2)
    page.click("#notification-bell")
    page.locator("#notification-dropdown [data-action='mark-all-read']").click()
    expect(page.locator(".notification-row.is-unread")).to_have_count(0)
    expect(page.locator(".notification-row.is-read")).to_have_count(2)


def test_the_dropdown_and_the_center_record_what_they_show_as_seen(open_page):
    user = UserFactory()
    off_loop(send_many, user, 2, title="Dropdown")
    page = open_page(user, "/")
    unseen = Notification.objects.filter(recipient=user, seen_at=None)
    assert unseen.count() == 2  # The page itself shows no rows.

    with page.expect_response(lambda r: r.url.endswith("/notifications/seen/")) as beacon:
        page.click("#notification-bell")
    assert beacon.value.status == 204 and beacon.value.request.method == "POST"
    expect(page.locator("#notification-dropdown .dropdown-item")).to_have_count(2)
    assert unseen.count() == 0

    # Another reader, so no open dropdown (which refreshes itself on news) sees the rows first.
    reader = UserFactory()
    off_loop(send_many, reader, 2, title="Center")
    page = open_page(reader, "/")
    with page.expect_response(lambda r: r.url.endswith("/notifications/seen/")) as beacon:
        page.goto("/notifications/")
    assert beacon.value.status == 204
    assert not Notification.objects.filter(recipient=reader, seen_at=None).exists()
    # Seen is not read: the rows and the badge still say unread.
    expect(page.locator(".notification-row.is-unread")).to_have_count(2)
    expect(badge(page)).to_have_text("2")


def test_clicking_a_toast_goes_through_the_click_through(open_page):
    attendee = UserFactory()
    organizer, event = off_loop(a_registered_event, attendee, title="Pottery class")
    page = open_page(attendee, "/")
    expect_live(page)
    notification = off_loop(
        send, attendee, kind="event_reminder", title="Pottery class", url=event.get_absolute_url()
    )
    page.locator(f"#notification-{notification.pk} .toast-link").click()
    expect(page).to_have_url(re.compile(rf"/events/{event.pk}/$"))
    notification.refresh_from_db()
    assert notification.is_read and notification.clicked_at is not None


def test_a_refused_registration_shows_its_reason_in_the_panel(open_page):
    """The event is cancelled while the page is open and before its live update arrives (its
    events socket is held here): the HTMX 400 is swapped in, not dropped."""
    attendee, newcomer = UserFactory(), UserFactory()
    organizer, event = off_loop(a_registered_event, attendee, title="Late picnic")
    page = open_page(newcomer, "/")
    page.route_web_socket(re.compile(r"/ws/events/"), lambda socket: None)  # never answers
    page.goto(f"/events/{event.pk}/")
    register = page.locator("#event-actions").get_by_role("button", name="Register")
    expect(register).to_be_visible()
    off_loop(event_cancel, event=event, actor=organizer)

    register.click()

    expect(page.locator("#event-actions [role=alert]")).to_contain_text("cancelled")
    expect(page).to_have_url(re.compile(rf"/events/{event.pk}/$"))
