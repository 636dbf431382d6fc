"""The delivery ledger: email clicks through the signed redirect, web push clicks reported by
the service worker, and the admin's sent / seen / clicked per kind and channel."""

import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from notifications.delivery import clicks
from notifications.delivery.rendering import render_push_payload
from notifications.models import Channel, Delivery, DeliveryStatus
from notifications.services import notify
from tests.delivery.factories import DeliveryFactory, NotificationFactory, UserFactory

pytestmark = pytest.mark.django_db

CLICK_LINK = re.compile(r"https://herald\.example(/notifications/email/click/[^\s\"<]+)")


def test_an_email_click_is_recorded_once_and_leads_to_the_notification(
    settings, django_capture_on_commit_callbacks
):
    settings.SITE_URL = "https://herald.example"
    ada = UserFactory(username="ada", email="ada@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        notify(kind="event_updated", recipients=[ada], context={"event_title": "Quiz"},
               dedupe_key="quiz", url="/events/12/")
    [message] = mail.outbox
    path = CLICK_LINK.search(message.body).group(1)
    assert CLICK_LINK.search(message.alternatives[0][0]).group(1) == path
    delivery = Delivery.objects.get(notification__recipient=ada, channel=Channel.EMAIL)
    assert delivery.status == DeliveryStatus.SENT and delivery.clicked_at is None

    response = Client().get(path)  # from any device: no session needed

    assert response.status_code == 302
    assert response["Location"] == "https://herald.example/events/12/"
    delivery.refresh_from_db()
    first_click = delivery.clicked_at
    assert first_click is not None
    Client().get(path)
    delivery.refresh_from_db()
    assert delivery.clicked_at == first_click


def test_forged_or_foreign_click_tokens_are_refused():
    delivery = DeliveryFactory(channel=Channel.PUSH)
    push_token = clicks.url_for(notification_id=delivery.notification_id,
                                channel=Channel.PUSH).rsplit("/", 1)[1]

    assert Client().get(reverse("email:click", args=["forged"])).status_code == 404
    # A push token does not open the email route (and records nothing).
    assert Client().get(reverse("email:click", args=[push_token])).status_code == 404
    assert Client().post(reverse("push:clicked", args=["forged"])).status_code == 404
    assert Delivery.objects.get(pk=delivery.pk).clicked_at is None


def test_a_purged_notification_leads_to_the_center(settings):
    settings.SITE_URL = "https://herald.example"
    notification = NotificationFactory()
    url = clicks.url_for(notification_id=notification.pk, channel=Channel.EMAIL)
    notification.delete()
    response = Client().get(url.removeprefix("https://herald.example"))
    assert response["Location"] == "https://herald.example/notifications/"


def test_the_push_payload_carries_a_click_report_url_the_service_worker_posts_to(settings):
    settings.SITE_URL = "https://herald.example"
    delivery = DeliveryFactory(channel=Channel.PUSH, status=DeliveryStatus.SENT)
    payload = render_push_payload(delivery.notification)
    path = payload["click"].removeprefix("https://herald.example")
    assert path.startswith("/notifications/push/clicked/")

    assert Client().get(path).status_code == 405
    # The worker's fetch carries no cookie and no CSRF token: the signed path is enough.
    response = Client(enforce_csrf_checks=True).post(path)

    assert response.status_code == 204
    delivery.refresh_from_db()
    assert delivery.clicked_at is not None


def test_admin_shows_sent_seen_and_clicked_per_kind_and_channel():
    email = DeliveryFactory(channel=Channel.EMAIL, status=DeliveryStatus.SENT)
    DeliveryFactory(channel=Channel.EMAIL, status=DeliveryStatus.SENT)
    DeliveryFactory(channel=Channel.SMS, status=DeliveryStatus.SENT,
                    notification=email.notification)
    Client().get(clicks.url_for(notification_id=email.notification_id, channel=Channel.EMAIL))
    admin = UserFactory(username="admin", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(admin)

    response = client.get(reverse("admin:notifications_notification_changelist"))

    content = response.content.decode()
    assert ('<tr data-kind="event_updated" data-channel="email"><th scope="row">Event updated'
            "</th><td>Email</td><td>2</td><td>—</td><td>1</td></tr>") in content
    assert ('<tr data-kind="event_updated" data-channel="sms"><th scope="row">Event updated'
            "</th><td>SMS</td><td>1</td><td>—</td><td>—</td></tr>") in content
