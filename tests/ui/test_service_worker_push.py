"""The service worker shows web push messages (delivered through Chromium's DevTools protocol)."""

import json

import pytest
from playwright.sync_api import expect

from tests.ui.factories import UserFactory

pytestmark = pytest.mark.browser


def test_service_worker_shows_a_pushed_message(open_page, asgi_server):
    user = UserFactory()
    page = open_page(user, "/notifications/")
    page.context.grant_permissions(["notifications"], origin=asgi_server.url)
    page.wait_for_function("navigator.serviceWorker && navigator.serviceWorker.controller !== null")

    devtools = page.context.new_cdp_session(page)
    registrations = []
    devtools.on(
        "ServiceWorker.workerRegistrationUpdated",
        lambda event: registrations.extend(event["registrations"]),
    )
    devtools.send("ServiceWorker.enable")
    page.wait_for_timeout(300)
    registration = next(r for r in registrations if r["scopeURL"] == asgi_server.url + "/")
    payload = {"title": "Summer picnic was cancelled", "body": "Sorry!", "url": "/events/7/"}
    devtools.send("ServiceWorker.deliverPushMessage", {
        "origin": asgi_server.url,
        "registrationId": registration["registrationId"],
        "data": json.dumps(payload),
    })
    shown = None
    for _ in range(50):  # The worker shows it asynchronously: ask until it is there.
        shown = page.evaluate(
            """() => navigator.serviceWorker.ready
                  .then(r => r.getNotifications())
                  .then(list => list.map(n => [n.title, n.body, n.data.url]))"""
        )
        if shown:
            break
        page.wait_for_timeout(100)
    titles = shown
    assert titles == [["Summer picnic was cancelled", "Sorry!", "/events/7/"]]
    expect(page.locator("#connection-state")).to_have_attribute("data-state", "live")
