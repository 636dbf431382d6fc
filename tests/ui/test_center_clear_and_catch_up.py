"""The center's "Clear all" with its Undo, and the note of a catch-up past its cap, in Chromium."""

import pytest
from playwright.sync_api import expect

from notifications import selectors
from tests.ui.factories import UserFactory
from tests.ui.helpers import badge, expect_live, send_many
from tests.ui.helpers import off_the_browser_loop as off_loop

pytestmark = pytest.mark.browser


def rows(page):
    return page.locator("#notification-list .notification-row")


def test_clear_all_empties_the_center_and_undo_brings_everything_back(open_page):
    alice, bob = UserFactory(), UserFactory()
    off_loop(send_many, alice, 3, title="For alice")
    off_loop(send_many, bob, 2, title="For bob")
    page = open_page(alice, "/notifications/")
    bobs = open_page(bob, "/notifications/")
    expect(rows(page)).to_have_count(3)
    expect(badge(page)).to_have_text("3")

    page.locator("[data-action='clear-all']").click()
    expect(rows(page)).to_have_count(0)
    expect(page.locator("#notification-list")).to_contain_text("all caught up")
    expect(badge(page)).to_be_hidden()
    undo = page.locator("#notification-toasts #undo-clear")
    expect(undo).to_contain_text("3 notifications cleared")

    undo.get_by_role("button", name="Undo").click()
    expect(rows(page)).to_have_count(3)
    expect(page.locator("#notification-list .is-unread")).to_have_count(3)
    expect(badge(page)).to_have_text("3")
    expect(page.locator("#undo-clear")).to_have_count(0)
    bobs.reload()  # the other user's center was never touched
    expect(rows(bobs)).to_have_count(2)

    # Mark all read stays its own button: everything stays listed, read.
    page.locator("[data-action='mark-all-read']").click()
    expect(page.locator("#notification-list .is-read")).to_have_count(3)
    expect(badge(page)).to_be_hidden()


def test_the_undo_toast_leaves_after_a_few_seconds_and_the_clear_stays(open_page):
    alice = UserFactory()
    off_loop(send_many, alice, 2)
    page = open_page(alice, "/notifications/")
    page.locator("[data-action='clear-all']").click()
    expect(page.locator("#undo-clear")).to_be_visible()
    expect(page.locator("#undo-clear")).to_have_count(0, timeout=9000)
    page.reload()
    expect(rows(page)).to_have_count(0)


def test_back_from_a_long_absence_the_page_says_how_many_more_arrived(open_page, settings):
    settings.NOTIFICATIONS_RATE_LIMIT_COUNT = 200  # the test process sends them
    alice, bob = UserFactory(), UserFactory()
    page = open_page(alice, "/")
    other = open_page(bob, "/")
    expect_live(page)
    expect_live(other)

    page.context.set_offline(True)
    expect(page.locator("#connection-state")).to_have_attribute("data-state", "offline")
    off_loop(send_many, alice, selectors.CATCH_UP_LIMIT + 12, title="While away")
    page.context.set_offline(False)

    expect_live(page)
    note = page.locator("#notification-toasts #notification-more")
    expect(note).to_contain_text("12 more notifications while you were away")
    expect(note.locator("a")).to_have_attribute("href", "/notifications/")
    expect(page.locator("#notification-toasts [data-summary]")).to_contain_text(
        f"{selectors.CATCH_UP_LIMIT} new notifications"
    )
    expect(page.locator("#notification-toasts .toast[data-armed]").first).to_be_attached()
    expect(note).not_to_have_attribute("data-armed", "1")  # never timed out: stays until closed
    note.get_by_role("button", name="Close").click()
    expect(note).to_have_count(0)
    expect(other.locator("#notification-more")).to_have_count(0)  # bob was never away
