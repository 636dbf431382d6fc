"""One-click unsubscribe from one kind of email (RFC 8058), from the email itself."""

import pytest
from django.core import mail
from django.test import Client

from notifications.delivery import unsubscribe
from notifications.models import Channel, Delivery, Preference
from notifications.services import notify

from .factories import UserFactory

pytestmark = pytest.mark.django_db


def send_update(user, key):
    return notify(kind="event_updated", recipients=[user], context={}, dedupe_key=key)


@pytest.fixture
def emailed(django_capture_on_commit_callbacks, settings):
    settings.SITE_URL = "https://herald.example"
    user = UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        send_update(user, "update:1")
    [message] = mail.outbox
    return user, message


def unsubscribe_path(message) -> str:
    header = message.extra_headers["List-Unsubscribe"]
    assert header.startswith("<https://herald.example/") and header.endswith(">")
    return header[1:-1].removeprefix("https://herald.example")


def test_emails_carry_one_click_unsubscribe_headers(emailed):
    _, message = emailed

    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert unsubscribe_path(message).startswith("/notifications/email/unsubscribe/")
    link = message.extra_headers["List-Unsubscribe"][1:-1]
    assert link in message.body  # and the reader sees it too
    assert link in message.alternatives[0][0]


def test_mail_providers_one_click_post_turns_that_kinds_email_off(
    emailed, django_capture_on_commit_callbacks
):
    user, message = emailed
    provider = Client(enforce_csrf_checks=True)  # no session, no CSRF token: a mail provider

    response = provider.post(
        unsubscribe_path(message),
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 200
    preference = Preference.objects.get(user=user, kind="event_updated", channel=Channel.EMAIL)
    assert preference.enabled is False
    with django_capture_on_commit_callbacks(execute=True):
        send_update(user, "update:2")
    assert len(mail.outbox) == 1  # no second email
    assert user.notifications.count() == 2  # still notified in the app
    assert Delivery.objects.filter(notification__recipient=user).count() == 1


def test_opening_the_link_only_asks_for_confirmation(emailed, client):
    user, message = emailed

    response = client.get(unsubscribe_path(message))

    assert response.status_code == 200
    assert "Stop “Event updated” emails?" in response.content.decode()
    assert not Preference.objects.filter(user=user).exists()


def test_forged_or_altered_link_is_404(client):
    user = UserFactory()
    token = unsubscribe.token_for(user_id=user.pk, kind="event_updated")
    forged = token[:-1] + ("A" if token[-1] != "A" else "B")

    assert client.post(f"/notifications/email/unsubscribe/{forged}").status_code == 404
    assert client.post("/notifications/email/unsubscribe/not-a-token").status_code == 404
    assert not Preference.objects.exists()
