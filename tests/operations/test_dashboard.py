"""The operations page: charts from the database, the broker and the metrics, staff only."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from notifications.models import Delivery, DeliveryStatus
from operations.selectors import delivery_latency_percentiles, per_minute
from tests.delivery.factories import DeliveryFactory
from tests.factories import UserFactory

from .helpers import staff_client

pytestmark = pytest.mark.django_db


def sent_email(seconds_ago: int, latency: float, status=DeliveryStatus.SENT, now=None):
    now = now or timezone.now()
    delivery = DeliveryFactory(status=status)
    created = now - timedelta(seconds=seconds_ago)
    Delivery.objects.filter(pk=delivery.pk).update(
        created_at=created, sent_at=created + timedelta(seconds=latency)
    )
    delivery.notification.__class__.objects.filter(pk=delivery.notification_id).update(
        created_at=created)
    return delivery


def test_per_minute_counts_land_in_their_minute():
    now = timezone.now().replace(second=45)
    sent_email(30, 1, now=now)
    sent_email(30, 2, now=now)
    sent_email(3600 * 3, 1, status=DeliveryStatus.DEAD, now=now)
    sent_email(3600 * 30, 1, now=now)  # older than a day: not shown

    minutes = per_minute(now=now)

    assert len(minutes["notifications"]) == 1440
    assert sum(minutes["notifications"]) == 3
    assert minutes["notifications"][-1] == 2
    email = minutes["deliveries"]["email"]
    assert sum(email["sent"]) == 2 and sum(email["dead"]) == 1
    assert email["dead"][1440 - 1 - 180] == 1


def test_latency_percentiles_per_channel():
    for latency in range(1, 101):
        sent_email(60, latency)
    percentiles = delivery_latency_percentiles(since=timezone.now() - timedelta(days=1))
    assert 49 <= percentiles["email"]["p50"] <= 52
    assert 94 <= percentiles["email"]["p95"] <= 96
    assert percentiles["email"]["p99"] >= 98


def test_the_page_renders_charts_and_its_queries_do_not_grow_with_rows():
    client = staff_client()
    sent_email(60, 1)
    with CaptureQueriesContext(connection) as few:
        response = client.get("/admin/operations/")
    assert response.status_code == 200
    content = response.content.decode()
    assert "Notifications created per minute" in content
    assert 'data-series="sent"' in content
    assert content.count("<svg") >= 5
    assert 'hx-trigger="every 10s"' in content
    for n in range(20):
        sent_email(60 * n, n, status=DeliveryStatus.DEAD if n % 3 else DeliveryStatus.SENT)
    with CaptureQueriesContext(connection) as many:
        client.get("/admin/operations/")
    assert len(many) == len(few)


def test_the_htmx_refresh_gets_the_dashboard_alone():
    response = staff_client().get("/admin/operations/", HTTP_HX_REQUEST="true")
    content = response.content.decode()
    assert content.lstrip().startswith('<div id="dashboard"')
    assert "<html" not in content


def test_the_page_is_staff_only():
    client = Client()
    client.force_login(UserFactory(username="alice"))
    response = client.get("/admin/operations/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
