"""The operations page in Chromium: charts drawn, figures filled, refreshed over HTMX."""

import random
from datetime import timedelta

import pytest
from django.db.models import F
from django.utils import timezone
from playwright.sync_api import expect

from notifications.models import Channel, Delivery, DeliveryStatus, Notification
from operations.models import Incident
from tests.operations.helpers import tasks_waiting
from tests.ui.factories import UserFactory
from tests.ui.helpers import screenshot

pytestmark = pytest.mark.browser


def a_day_of_traffic(users):
    """Notifications and deliveries spread over the last 24 hours, busier in the evening."""
    rng = random.Random(14)
    now = timezone.now()
    notifications = []
    for n in range(1200):
        minutes_ago = int(rng.triangular(0, 1439, 200))
        notifications.append(Notification(
            recipient=rng.choice(users), kind="event_updated", title=f"Update {n}",
            dedupe_key=f"traffic:{n}", created_at=now - timedelta(minutes=minutes_ago),
        ))
    Notification.objects.bulk_create(notifications)
    deliveries = []
    for notification in notifications:
        for channel in (Channel.EMAIL, Channel.PUSH):
            if rng.random() < (0.6 if channel == Channel.EMAIL else 0.3):
                status = rng.choices(
                    [DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.DEAD],
                    [0.92, 0.05, 0.03])[0]
                latency = timedelta(seconds=rng.expovariate(1 / (4 if channel == "push" else 12)))
                deliveries.append(Delivery(
                    notification=notification, channel=channel, status=status,
                    created_at=notification.created_at,
                    sent_at=notification.created_at + latency
                    if status == DeliveryStatus.SENT else None,
                ))
    Delivery.objects.bulk_create(deliveries)
    # Rows died when they were last touched, not when this test inserted them.
    Delivery.objects.update(updated_at=F("created_at"))


def test_the_operations_page_draws_its_charts_and_refreshes_itself(open_page, asgi_server):
    staff = UserFactory(username="operator", is_staff=True, is_superuser=True)
    alice = UserFactory(username="alice")
    a_day_of_traffic([staff, alice])
    Incident.objects.create(key="breaker:sms:HttpSmsBackend",
                            summary="circuit breaker open for sms:HttpSmsBackend")
    tasks_waiting("bulk", 7)
    tasks_waiting("default")
    alice_page = open_page(alice, "/notifications/")  # one open socket in the server
    expect(alice_page.locator("#connection-state")).to_have_attribute("data-state", "live")

    page = open_page(staff, "/admin/operations/", viewport={"width": 1280, "height": 1500})

    expect(page.locator("#figure-notifications .ops-figure")).to_have_text("1200")
    expect(page.locator("#chart-notifications svg polyline")).to_have_count(1)
    expect(page.locator(".chart-deliveries")).to_have_count(2)  # email and web push
    expect(page.locator('.chart-deliveries polyline[data-series="dead"]')).to_have_count(2)
    expect(page.locator('#chart-queues rect[data-bar="bulk"]')).to_have_count(1)
    expect(page.locator("#chart-queues")).to_contain_text("7")
    # The server's process is charted (the test run's own process may be too, with the zero
    # gauge its in-process socket tests left).
    expect(page.locator("#chart-sockets")).to_contain_text(f"pid {asgi_server.process.pid}")
    # One socket in the server; the total also counts what in-process socket tests of this
    # run left in its own process's gauge, read from the same files.
    from operations.metrics import open_sockets_by_process

    sockets = open_sockets_by_process()
    assert sockets[str(asgi_server.process.pid)] == 1
    expect(page.locator("#figure-sockets .ops-figure")).to_have_text(str(sum(sockets.values())))
    expect(page.locator("#figure-incidents")).to_contain_text("circuit breaker open")
    expect(page.locator('#latency tr[data-channel="email"]')).to_be_visible()
    box = page.locator("#chart-notifications svg").bounding_box()
    assert box["width"] > 600 and box["height"] > 100
    screenshot(page, "operations.png", full_page=True)

    # The page refreshes itself: a new notification shows without a reload.
    Notification.objects.create(recipient=alice, kind="event_updated", title="One more",
                                dedupe_key="one-more")
    expect(page.locator("#figure-notifications .ops-figure")).to_have_text(
        "1201", timeout=15_000)
