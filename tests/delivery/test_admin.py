"""Admin: dead letters with a retry action; API keys shown once."""

import re
from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.core import mail
from django.test import Client
from django.utils import timezone

from notifications.models import ApiKey, Channel, DeliveryStatus

from .factories import DeliveryFactory, UserFactory

pytestmark = pytest.mark.django_db

DELIVERIES = "/admin/notifications/delivery/"
API_KEYS = "/admin/notifications/apikey/"


@pytest.fixture
def staff_client():
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_changelist_filters_deliveries_by_status_and_channel(staff_client):
    dead = DeliveryFactory(status=DeliveryStatus.DEAD, last_error="SMTP said no")
    DeliveryFactory(status=DeliveryStatus.SENT)
    DeliveryFactory(status=DeliveryStatus.DEAD, channel=Channel.SMS)

    response = staff_client.get(DELIVERIES, {"status__exact": "dead", "channel__exact": "email"})

    assert response.status_code == 200
    assert [row.pk for row in response.context["cl"].result_list] == [dead.pk]
    assert "SMTP said no" in response.content.decode()


def test_changelist_query_count_does_not_grow_with_rows(staff_client, django_assert_max_num_queries):
    DeliveryFactory.create_batch(3, status=DeliveryStatus.DEAD)
    with django_assert_max_num_queries(12) as few:
        staff_client.get(DELIVERIES)
    DeliveryFactory.create_batch(30, status=DeliveryStatus.DEAD)

    with django_assert_max_num_queries(len(few.captured_queries)):
        staff_client.get(DELIVERIES)


def test_retry_action_gives_dead_deliveries_fresh_attempts_and_sends_them(
    staff_client, django_capture_on_commit_callbacks
):
    dead = DeliveryFactory(status=DeliveryStatus.DEAD, attempts=6, last_error="timeout")
    sent = DeliveryFactory(status=DeliveryStatus.SENT, attempts=1)
    quiet = DeliveryFactory(next_attempt_at=timezone.now() + timedelta(hours=6))

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            DELIVERIES, {"action": "retry", "_selected_action": [dead.pk, sent.pk, quiet.pk]}
        )

    assert response.status_code == 302
    dead.refresh_from_db()
    assert dead.status == DeliveryStatus.SENT
    assert dead.attempts == 1
    assert dead.last_error == ""
    assert len(mail.outbox) == 1  # the sent one was not sent again
    quiet.refresh_from_db()
    assert quiet.next_attempt_at > timezone.now()  # still waiting for the end of quiet hours
    [message] = get_messages(response.wsgi_request)
    assert "1 deliveries queued" in str(message)
    assert "2 sent or pending were left alone" in str(message)


def test_new_api_key_is_shown_once_and_only_its_hash_is_stored(staff_client):
    response = staff_client.post(API_KEYS + "add/", {"name": "billing-service"}, follow=True)

    [shown] = [str(m) for m in response.context["messages"] if "<code>" in str(m)]
    raw_key = re.search(r"<code>([^<]+)</code>", shown).group(1)
    api_key = ApiKey.objects.get(name="billing-service")
    assert api_key.hashed_key == ApiKey.hash(raw_key)
    # The key is nowhere to be seen again.
    detail = staff_client.get(f"{API_KEYS}{api_key.pk}/change/").content.decode()
    assert raw_key not in detail
    assert raw_key not in staff_client.get(API_KEYS).content.decode()


def test_revoke_action_revokes_keys(staff_client):
    from notifications.api.services import api_key_create

    api_key, _ = api_key_create(name="old-service")

    staff_client.post(API_KEYS, {"action": "revoke", "_selected_action": [api_key.pk]})

    api_key.refresh_from_db()
    assert not api_key.is_active
