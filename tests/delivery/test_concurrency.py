"""Workers racing for the same rows, and API clients racing with the same Idempotency-Key."""

import json
import threading

import pytest
from django.db import connection
from django.test import Client

from notifications.api.services import api_key_create
from notifications.delivery import services
from notifications.models import Notification

from .factories import UserFactory, sms_delivery

pytestmark = [
    pytest.mark.django_db(transaction=True),
    # SQLite's in-memory test database locks whole tables between threads; the embedded mode's
    # file database waits for locks instead. Row-level concurrency is PostgreSQL's to prove.
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="concurrency is tested on PostgreSQL"
    ),
]


def run_together(function, count: int) -> list:
    """Start ``count`` threads at the same moment; each gets its own database connection."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(index):
        try:
            barrier.wait()
            results[index] = function()
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def test_two_workers_with_the_same_row_send_it_once(sms_provider):
    rows = [sms_delivery() for _ in range(20)]
    ids = [row.pk for row in rows]

    outcomes = run_together(lambda: services.deliveries_send(delivery_ids=ids), 4)

    sent = [pk for outcome in outcomes for pk, result in outcome.items() if result == "sent"]
    assert sorted(sent) == sorted(ids)  # every row sent, none twice
    assert len(sms_provider.requests) == 20


def test_identical_api_requests_racing_create_one_notification(settings):
    reader = UserFactory()
    _, raw_key = api_key_create(name="racer")
    body = json.dumps({"kind": "event_updated", "recipients": [reader.pk]})

    def post():
        return Client().post(
            "/api/v1/notifications",
            data=body,
            content_type="application/json",
            headers={"X-Api-Key": raw_key, "Idempotency-Key": "race-1"},
        )

    responses = run_together(post, 4)

    assert [response.status_code for response in responses] == [201] * 4
    assert len({json.dumps(response.json(), sort_keys=True) for response in responses}) == 1
    assert sum(response.has_header("Idempotent-Replayed") for response in responses) == 3
    assert Notification.objects.filter(recipient=reader).count() == 1
