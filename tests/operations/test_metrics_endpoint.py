"""/metrics and /health/status: who may read them and what they say."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from notifications.delivery.breaker import CircuitBreaker
from notifications.models import Delivery, DeliveryStatus
from tests.factories import UserFactory

from .helpers import scrape, staff_client, value

pytestmark = pytest.mark.django_db


def test_metrics_refuse_anonymous_callers_and_a_wrong_token(settings):
    settings.METRICS_TOKEN = "s3cret-token"
    anonymous = Client().get("/metrics")
    assert anonymous.status_code == 401
    assert anonymous["WWW-Authenticate"].startswith("Bearer")
    assert b"herald_" not in anonymous.content
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert Client().get("/health/status").status_code == 401


def test_metrics_refuse_logged_in_users_who_are_not_staff():
    client = Client()
    client.force_login(UserFactory(username="alice"))
    assert client.get("/metrics").status_code == 403
    assert client.get("/health/status").status_code == 403


def test_no_token_configured_means_no_token_is_accepted(settings):
    settings.METRICS_TOKEN = ""
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 401


def test_a_monitor_with_the_token_reads_the_prometheus_text(settings):
    settings.METRICS_TOKEN = "s3cret-token"
    samples = scrape(Client(), HTTP_AUTHORIZATION="Bearer s3cret-token")
    assert value(samples, "herald_process_resident_memory_bytes", role="other") > 0
    assert ("herald_queue_depth", (("queue", "urgent"),)) in samples


def test_http_latency_is_recorded_per_view():
    client = staff_client()
    before = scrape(client)
    client.get("/health/live")
    client.get("/health/live")
    after = scrape(client)
    name = "herald_http_request_duration_seconds_count"
    labels = {"view": "health-live", "method": "GET"}
    assert value(after, name, **labels) - value(before, name, **labels) == 2
    assert value(after, "herald_http_responses_total", view="health-live", status="2xx") >= 2


def test_breaker_state_per_provider_comes_from_the_shared_breaker(settings):
    settings.DELIVERY_BREAKER_THRESHOLD = 2
    breaker = CircuitBreaker("sms:HttpSmsBackend")
    breaker.record_failure()
    assert value(scrape(staff_client()), "herald_delivery_breaker_state",
                 provider="sms:HttpSmsBackend") == 0
    breaker.record_failure()
    assert value(scrape(staff_client()), "herald_delivery_breaker_state",
                 provider="sms:HttpSmsBackend") == 2


def test_status_lists_checks_queues_sockets_dead_letters_and_open_breakers(settings):
    from tests.delivery.factories import sms_delivery

    settings.DELIVERY_BREAKER_THRESHOLD = 1
    CircuitBreaker("email:DjangoEmailBackend").record_failure()
    dead = sms_delivery()
    Delivery.objects.filter(pk=dead.pk).update(status=DeliveryStatus.DEAD)
    old = sms_delivery()
    Delivery.objects.filter(pk=old.pk).update(
        status=DeliveryStatus.DEAD, updated_at=timezone.now() - timedelta(hours=2)
    )

    response = staff_client().get("/health/status")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == "ok"
    assert set(body["queues"]) == {"urgent", "default", "bulk"}
    assert body["queues"]["bulk"]["depth"] == 0
    assert body["dead_letters_last_hour"] == 1
    assert body["breakers_open"] == ["email:DjangoEmailBackend"]
    assert body["sockets"]["total"] >= 0


def test_a_dead_letter_is_counted_per_channel():
    from notifications.delivery.services import delivery_send
    from tests.delivery.factories import sms_delivery

    client = staff_client()
    before = scrape(client)
    delivery = sms_delivery(phone="")  # no number: the provider is never asked, the row is dead

    assert delivery_send(delivery_id=delivery.pk) == "dead"

    after = scrape(client)
    assert value(after, "herald_dead_letters_total", channel="sms") - value(
        before, "herald_dead_letters_total", channel="sms") == 1
    assert value(after, "herald_deliveries_total", channel="sms", status="dead") - value(
        before, "herald_deliveries_total", channel="sms", status="dead") == 1
    assert client.get("/health/status").json()["dead_letters_last_hour"] == 1


def test_a_file_another_process_has_created_but_not_yet_sized_does_not_break_the_scrape(
    settings,
):
    """prometheus-client creates a process's file empty and extends it a moment later; a
    scrape (or the sockets-per-process read of the alerts) in that moment must still answer."""
    import os
    import struct

    from prometheus_client.multiprocess import MultiProcessCollector

    from operations.metrics import open_sockets_by_process

    unsized = os.path.join(os.environ["PROMETHEUS_MULTIPROC_DIR"], f"counter_{os.getpid()}9.db")
    open(unsized, "wb").close()
    try:
        with pytest.raises(struct.error):  # what the library's own collector does with it
            list(MultiProcessCollector.merge([unsized]))
        assert scrape(staff_client())  # a 200 with every other process's samples
        assert isinstance(open_sockets_by_process(), dict)
    finally:
        os.remove(unsized)
