"""Live event pages over the real Redis channel layer: the events socket and its groups."""

import re

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from config.asgi import application
from events import services
from tests.events.factories import EventFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def user_with_cookie(username):
    user = UserFactory(username=username)
    client = Client()
    client.force_login(user)
    client.get("/events/")  # sets the CSRF cookie, as a page view does
    cookies = "; ".join(f"{name}={morsel.value}" for name, morsel in client.cookies.items())
    return user, cookies.encode()


def socket(cookie, path):
    headers = [(b"origin", b"http://127.0.0.1:8000"), (b"host", b"127.0.0.1:8000")]
    if cookie:
        headers.append((b"cookie", cookie))
    return WebsocketCommunicator(application, path, headers=headers)


async def opened(cookie, path):
    ws = socket(cookie, path)
    assert (await ws.connect(timeout=5))[0]
    return ws


def places(fragment):
    return re.search(r'<dd id="event-places">([^<]*)</dd>', fragment).group(1)


async def test_an_event_page_gets_its_parts_on_connect_with_a_working_csrf_token():
    alice, cookie = await sync_to_async(user_with_cookie)("alice")
    event = await sync_to_async(EventFactory)(title="Quiz night", capacity=3)
    ws = await opened(cookie, f"/ws/events/{event.pk}/")
    fragment = await ws.receive_from(timeout=3)
    assert '<article id="event-main" class="card event-main" hx-swap-oob="true">' in fragment
    assert '<div id="event-panel" hx-swap-oob="true">' in fragment and "Register" in fragment
    assert "<strong>3</strong> places left" in fragment
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', fragment).group(1)
    assert token and token in cookie.decode()
    await ws.disconnect()


async def test_a_registration_moves_places_left_on_every_open_page_and_list():
    alice, alice_cookie = await sync_to_async(user_with_cookie)("alice")
    bob, bob_cookie = await sync_to_async(user_with_cookie)("bob")
    event = await sync_to_async(EventFactory)(capacity=2)
    alice_page = await opened(alice_cookie, f"/ws/events/{event.pk}/")
    bob_page = await opened(bob_cookie, f"/ws/events/{event.pk}/")
    await alice_page.receive_from(timeout=3)
    await bob_page.receive_from(timeout=3)
    alice_list = await opened(alice_cookie, "/ws/events/")

    await sync_to_async(services.registration_create)(user=bob, event=event)

    fragment = await alice_page.receive_from(timeout=3)
    assert places(fragment) == "1 of 2 taken"
    assert "<strong>1</strong> place left" in fragment
    row = await alice_list.receive_from(timeout=3)
    assert row.lstrip().startswith(f'<li id="event-row-{event.pk}"')
    assert 'hx-swap-oob="true"' in row and "1 of 2 places left" in row
    mine = await bob_page.receive_from(timeout=3)
    assert places(mine) == "1 of 2 taken" and "You're going" in mine
    assert 'id="event-actions"' not in mine  # the panel's inside: the notice of a click stays
    for ws in (alice_page, bob_page, alice_list):
        await ws.disconnect()


async def test_an_organizers_edit_and_cancel_change_an_attendees_open_page():
    alice, cookie = await sync_to_async(user_with_cookie)("alice")
    organizer = await sync_to_async(UserFactory)(username="org")
    event = await sync_to_async(EventFactory)(organizer=organizer, location="Room A")
    await sync_to_async(services.registration_create)(user=alice, event=event)
    page = await opened(cookie, f"/ws/events/{event.pk}/")
    await page.receive_from(timeout=3)

    await sync_to_async(services.event_update)(
        event=event, actor=organizer, changes={"location": "Room B"}
    )
    fragment = await page.receive_from(timeout=3)
    assert "<dd>Room B</dd>" in fragment and "You're going" in fragment

    await sync_to_async(services.event_cancel)(event=event, actor=organizer)
    fragment = await page.receive_from(timeout=3)
    assert "This event was cancelled." in fragment
    assert "pill-danger" in fragment and "Leave event" not in fragment
    await page.disconnect()


async def test_the_waiting_list_promotion_updates_the_promoted_persons_panel():
    alice, cookie = await sync_to_async(user_with_cookie)("alice")
    bob = await sync_to_async(UserFactory)(username="bob")
    event = await sync_to_async(EventFactory)(capacity=1)
    await sync_to_async(services.registration_create)(user=bob, event=event)
    await sync_to_async(services.registration_create)(user=alice, event=event)
    page = await opened(cookie, f"/ws/events/{event.pk}/")
    assert "number <strong>1</strong> on the waiting list" in await page.receive_from(timeout=3)

    await sync_to_async(services.registration_cancel)(user=bob, event=event)

    fragment = await page.receive_from(timeout=3)
    assert "You're going: your place is confirmed." in fragment
    assert "Leave event" in fragment
    await page.disconnect()


async def test_anonymous_and_unknown_event_sockets_are_closed_with_a_code():
    anonymous = socket(None, "/ws/events/")
    await anonymous.connect()
    assert (await anonymous.receive_output(timeout=3))["code"] == 4401
    _, cookie = await sync_to_async(user_with_cookie)("alice")
    unknown = socket(cookie, "/ws/events/999999/")
    await unknown.connect()
    assert (await unknown.receive_output(timeout=3))["code"] == 4404
    await unknown.disconnect()
