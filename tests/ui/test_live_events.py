"""Event pages and the events list update in place in Chromium when the event changes.

Changes made through the server's pages come first in a module: the server process keeps
content-type ids in memory, and the table is rebuilt between tests.
"""

import pytest
from playwright.sync_api import expect

from events.services import event_cancel, registration_cancel, registration_create
from tests.ui.factories import UserFactory
from tests.ui.helpers import a_registered_event, expect_live
from tests.ui.helpers import off_the_browser_loop as off_loop

pytestmark = pytest.mark.browser


def test_an_organizers_edit_and_a_registration_change_other_users_open_pages_and_list(open_page):
    attendee, bob = UserFactory(), UserFactory()
    organizer, event = off_loop(a_registered_event, attendee, title="Chess club")
    detail = open_page(attendee, f"/events/{event.pk}/")
    listing = open_page(attendee, "/events/")
    expect_live(detail)
    expect_live(listing)
    expect(detail.locator("#event-main")).to_contain_text("Room A")
    row = listing.locator(f"#event-row-{event.pk}")
    expect(row).to_contain_text("Room A")
    expect(detail.locator("#event-actions")).to_contain_text("9 places left")

    edit = open_page(organizer, f"/events/{event.pk}/edit/")
    edit.fill("#id_location", "The library")
    edit.locator("#id_location").press("Enter")
    expect(edit.locator(".message-success")).to_be_visible()

    expect(detail.locator("#event-main")).to_contain_text("The library")
    expect(detail.locator("#event-actions")).to_contain_text("You're going")
    expect(row).to_contain_text("The library")

    bob_page = open_page(bob, f"/events/{event.pk}/")
    bob_page.locator("#event-actions").get_by_role("button", name="Register").click()
    expect(bob_page.locator("#event-actions .notice")).to_contain_text("You're registered")

    expect(detail.locator("#event-actions")).to_contain_text("8 places left")
    expect(detail.locator("#event-places")).to_have_text("2 of 10 taken")
    expect(row).to_contain_text("8 of 10 places left")
    # The live update reached bob's page too, and the answer to his click stayed.
    expect(bob_page.locator("#event-places")).to_have_text("2 of 10 taken")
    expect(bob_page.locator("#event-actions .notice")).to_contain_text("You're registered")

    off_loop(event_cancel, event=event, actor=organizer)
    expect(detail.locator("#event-main [role=alert]")).to_contain_text("cancelled")
    expect(detail.locator("#event-actions .pill-danger")).to_have_text("Cancelled")
    expect(detail.locator("#event-actions")).not_to_contain_text("Leave event")
    expect(row.locator(".pill-danger")).to_have_text("Cancelled")


def test_the_waiting_list_promotion_updates_the_open_action_panel(open_page):
    alice, bob = UserFactory(), UserFactory()
    organizer, event = off_loop(a_registered_event, bob, title="Tiny workshop")
    event.capacity = 1
    event.save(update_fields=["capacity"])
    off_loop(registration_create, user=alice, event=event)
    page = open_page(alice, f"/events/{event.pk}/")
    bobs = open_page(bob, f"/events/{event.pk}/")
    expect(page.locator("#event-actions")).to_contain_text("number 1 on the waiting list")
    expect(bobs.locator("#event-actions")).to_contain_text("You're going")

    off_loop(registration_cancel, user=bob, event=event)

    expect(page.locator("#event-actions")).to_contain_text("You're going")
    expect(page.locator("#event-actions").get_by_role("button", name="Leave event")).to_be_visible()
    join = bobs.locator("#event-actions").get_by_role("button", name="Join waiting list")
    expect(join).to_be_visible()
