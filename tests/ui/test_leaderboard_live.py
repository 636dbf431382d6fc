"""The live leaderboard in real Chromium against the real ASGI stack (daphne + Redis)."""

import pytest
from playwright.sync_api import expect

from leaderboard import services
from tests.leaderboard.factories import EntryFactory, UserFactory
from tests.ui.helpers import expect_live
from tests.ui.helpers import off_the_browser_loop as off_loop
from tests.ui.helpers import screenshot

pytestmark = pytest.mark.browser


def a_new_leader(username: str, points: int) -> None:
    services.score_submit(user_id=UserFactory(username=username).pk, points=points)


def test_the_board_updates_in_an_open_page_when_someone_scores(open_page):
    viewer = UserFactory(username="viewer")
    EntryFactory(user=viewer, total_score=40)
    page = open_page(viewer, "/leaderboard/")
    top = page.locator("#leaderboard-top")
    expect(top).to_contain_text("viewer")
    expect_live(page)  # the board's socket may open later: it then sends the board as it is

    off_loop(a_new_leader, "zoe", 90)

    expect(top.locator("tbody tr").first).to_contain_text("zoe", timeout=3000)
    around = page.locator("#leaderboard-around tr.is-me")
    expect(around).to_contain_text("2")  # viewer dropped to rank 2 without a reload
    toast = page.locator("#notification-toasts .toast")
    expect(toast).to_contain_text("zoe overtook you", timeout=3000)  # "rank changed"
    screenshot(page, "leaderboard.png")
