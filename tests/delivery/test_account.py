"""The account page: email and phone confirmed before they are used, devices listed and removed,
and each channel's reach shown where preferences are chosen."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.urls import reverse

from notifications.models import Channel, ContactPoint, Delivery, DeliveryStatus, MobileDevice
from notifications.services import preference_set

from .factories import PushSubscriptionFactory, UserFactory
from .test_notify_end_to_end import notify_update

pytestmark = pytest.mark.django_db

ACCOUNT = "/account/"


def link_in(message) -> str:
    return re.search(r"http://\S+/account/verify-email/\S+", message.body).group(0)


def test_sign_up_asks_for_an_email_and_delivers_to_it_once_the_link_is_followed(
    client, django_capture_on_commit_callbacks
):
    form = {"username": "dana", "email": "dana@example.com",
            "password1": "a-long-pass-phrase-9", "password2": "a-long-pass-phrase-9"}
    assert client.post("/accounts/signup/", {**form, "email": ""}).status_code == 400
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post("/accounts/signup/", form).status_code == 302
    (confirmation,) = mail.outbox
    assert confirmation.to == ["dana@example.com"]
    link = link_in(confirmation)
    dana = get_user_model().objects.get(username="dana")

    # Before confirmation: the email channel is on but skipped, with the reason in the ledger.
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        notify_update(dana, key="before")
    skipped = Delivery.objects.get(notification__recipient=dana, channel=Channel.EMAIL)
    assert skipped.status == DeliveryStatus.SKIPPED
    assert "not verified" in skipped.last_error
    assert mail.outbox == []

    path = link.removeprefix("http://127.0.0.1:8000")
    page = client.get(path)  # a mail scanner's GET confirms nothing
    assert page.status_code == 200 and b"Confirm this address" in page.content
    assert not ContactPoint.objects.filter(user=dana, email_verified="dana@example.com").exists()
    assert b"is confirmed" in client.post(path).content
    with django_capture_on_commit_callbacks(execute=True):
        notify_update(dana, key="after")
    sent = Delivery.objects.get(notification__recipient=dana, notification__dedupe_key="after")
    assert sent.status == DeliveryStatus.SENT
    assert [m.to for m in mail.outbox] == [["dana@example.com"]]


def test_changing_the_email_needs_a_new_confirmation_and_old_links_stop_working(
    client, django_capture_on_commit_callbacks
):
    user = UserFactory()
    client.force_login(user)
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post(ACCOUNT, {"section": "email", "email": "old-new@example.com"})
    assert first.status_code == 302
    old_link = link_in(mail.outbox[-1]).removeprefix("http://127.0.0.1:8000")
    with django_capture_on_commit_callbacks(execute=True):
        client.post(ACCOUNT, {"section": "email", "email": "newest@example.com"})
    new_link = link_in(mail.outbox[-1]).removeprefix("http://127.0.0.1:8000")
    page = client.get(ACCOUNT)
    assert b"not confirmed" in page.content

    refused = client.post(old_link)
    assert refused.status_code == 400 and b"no longer on the account" in refused.content
    assert client.post(new_link).status_code == 200
    user.refresh_from_db()
    assert user.email == "newest@example.com"
    assert ContactPoint.objects.get(user=user).email_is_verified("newest@example.com")
    assert client.post("/account/verify-email/not-a-token").status_code == 400


def test_phone_is_stored_as_e164_and_confirmed_by_the_code_the_sms_provider_received(
    client, sms_provider, django_capture_on_commit_callbacks
):
    user = UserFactory()
    client.force_login(user)
    bad = client.post(ACCOUNT, {"section": "phone", "phone": "12345"})
    assert bad.status_code == 400 and b"country code" in bad.content
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(ACCOUNT, {"section": "phone", "phone": "+49 (151) 2345-6789"})
    assert response.status_code == 302
    contact = ContactPoint.objects.get(user=user)
    assert contact.phone == "+4915123456789" and not contact.phone_is_verified

    (request,) = sms_provider.requests_to("/sms")
    assert request.json()["to"] == "+4915123456789"
    code = re.search(r"\b(\d{6})\b", request.json()["body"]).group(1)
    wrong = "000000" if code != "000000" else "111111"

    # Unconfirmed: SMS is on for the kind but skipped, with the reason in the ledger.
    preference_set(user=user, kind="event_updated", channel=Channel.SMS, enabled=True)
    with django_capture_on_commit_callbacks(execute=True):
        notify_update(user, key="before")
    skipped = Delivery.objects.get(notification__dedupe_key="before", channel=Channel.SMS)
    assert (skipped.status, "not verified" in skipped.last_error) == (DeliveryStatus.SKIPPED, True)
    assert len(sms_provider.requests_to("/sms")) == 1

    refused = client.post(ACCOUNT, {"section": "phone_code", "code": wrong})
    assert refused.status_code == 400 and b"not right" in refused.content
    assert client.post(ACCOUNT, {"section": "phone_code", "code": code}).status_code == 302
    assert ContactPoint.objects.get(user=user).phone_is_verified

    with django_capture_on_commit_callbacks(execute=True):
        notify_update(user, key="after")
    sent = Delivery.objects.get(notification__dedupe_key="after", channel=Channel.SMS)
    assert sent.status == DeliveryStatus.SENT
    assert sms_provider.requests_to("/sms")[-1].json()["to"] == "+4915123456789"


def test_a_code_stops_working_after_too_many_wrong_guesses(
    client, sms_provider, settings, django_capture_on_commit_callbacks
):
    settings.PHONE_CODE_MAX_ATTEMPTS = 2
    user = UserFactory()
    client.force_login(user)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(ACCOUNT, {"section": "phone", "phone": "+4915123456780"})
    code = re.search(r"\b(\d{6})\b", sms_provider.requests_to("/sms")[0].json()["body"]).group(1)
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(2):
        client.post(ACCOUNT, {"section": "phone_code", "code": wrong})
    blocked = client.post(ACCOUNT, {"section": "phone_code", "code": code})
    assert blocked.status_code == 400 and b"Too many wrong codes" in blocked.content
    assert not ContactPoint.objects.get(user=user).phone_is_verified


def test_devices_are_listed_with_last_seen_and_only_their_owner_removes_them(client):
    user, other = UserFactory(), UserFactory()
    browser = PushSubscriptionFactory(user=user, user_agent="Mozilla/5.0 Firefox/140.0")
    phone = MobileDevice.objects.create(user=user, platform="ios", token="a" * 64, name="Ada's iPhone")
    foreign = MobileDevice.objects.create(user=other, platform="android", token="fcm-token-1")
    client.force_login(user)
    page = client.get(ACCOUNT).content.decode()
    assert "Firefox (web push)" in page and "Ada&#x27;s iPhone" in page and "last seen" in page

    url = reverse("account:device_remove", args=["mobile", foreign.pk])
    assert client.post(url).status_code == 404
    assert client.post(reverse("account:device_remove", args=["mobile", phone.pk]),
                       HTTP_HX_REQUEST="true").status_code == 200
    assert client.post(reverse("account:device_remove", args=["browser", browser.pk])).status_code == 302
    assert list(MobileDevice.objects.values_list("pk", flat=True)) == [foreign.pk]
    assert not user.push_subscriptions.exists()


def test_preferences_say_which_channels_cannot_reach_the_user_and_how_to_fix_it(client):
    user = UserFactory(email_verified=False)
    client.force_login(user)
    page = client.get("/notifications/preferences/").content.decode()
    assert "Add a phone number" in page
    assert f"{user.email} is not confirmed yet" in page
    assert "Install the Herald app" in page
    assert 'href="/account/"' in page  # the navigation links the account page
