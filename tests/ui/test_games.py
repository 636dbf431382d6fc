"""Two players play a ranked game to the end in Chromium: the turn passes live, the page says
"scoring…", then both see every chapter's score and comment and the leaderboard move, without
a reload."""

import re

import pytest
from playwright.sync_api import expect

from tests.leaderboard.scorers import open_gate
from tests.ui.factories import UserFactory
from tests.ui.helpers import expect_live

pytestmark = pytest.mark.browser

# Scoring waits until the test opens the gate, so "scoring…" can be seen (the server runs
# tasks where they are queued, which would otherwise score before any page could look).
SERVER_ENV = {"LEADERBOARD_SCORER": "tests.leaderboard.scorers.GatedScorer"}


def test_two_players_play_a_game_to_the_end_and_both_see_the_scores_live(open_page):
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    alice_board = open_page(alice, "/leaderboard/")
    bob_board = open_page(bob, "/leaderboard/")
    expect(alice_board.locator("#leaderboard-top")).to_contain_text("No scores yet")

    alice_game = open_page(alice, "/leaderboard/games/")
    alice_game.fill("#id_title", "Night train")
    alice_game.fill("#id_prompt", "The lights go out between two stations.")
    alice_game.fill("#id_chapter_count", "2")
    alice_game.locator("[data-action='open-game']").click()
    expect(alice_game).to_have_url(re.compile(r"/leaderboard/games/\d+/$"))
    expect(alice_game.locator("#chapter-form")).to_be_visible()  # the creator writes first
    game_url = alice_game.url

    bob_game = open_page(bob, "/leaderboard/games/")
    bob_game.get_by_role("link", name="Night train").click()
    bob_game.locator("[data-action='join-game']").click()
    expect(bob_game.locator("#game-live")).to_contain_text("Waiting for alice")
    expect(alice_game.locator(".game-players")).to_contain_text("bob")  # live on alice's page
    expect_live(alice_game)

    alice_game.fill("#chapter-text", "A scream, then a match is struck.")
    alice_game.locator("[data-action='write-chapter']").click()
    expect(alice_game.locator("#game-live")).to_contain_text("Waiting for bob")
    expect(bob_game.locator("#chapter-1")).to_contain_text("a match is struck")
    bob_game.fill("#chapter-text", "The conductor counts the passengers: one too many.")
    bob_game.locator("[data-action='write-chapter']").click()  # the last chapter ends it

    for page in (alice_game, bob_game):
        expect(page.locator(".game-status")).to_contain_text("Scoring…")
    open_gate()

    for page in (alice_game, bob_game):
        expect(page.locator(".game-status")).to_contain_text("Scored")
        expect(page.locator(".story .chapter-score")).to_have_count(2)
        expect(page.locator(".chapter-comment").first).not_to_be_empty()
        expect(page.locator("#notification-toasts .toast").filter(
            has_text="Night train")).to_have_count(1)
    assert alice_game.url == game_url  # no navigation, no reload
    for board in (alice_board, bob_board):
        top = board.locator("#leaderboard-top")
        expect(top).to_contain_text("alice")
        expect(top).to_contain_text("bob")
        expect(board.locator("#leaderboard-around tr.is-me")).to_have_count(1)
