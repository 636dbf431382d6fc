"""From notify() to every provider: the channels the recipient chose, only after commit."""

import pytest
from django.core import mail
from django.db import transaction

from notifications.models import Channel, Delivery, DeliveryStatus
from notifications.services import notify, preference_set

from .factories import ContactPointFactory, PushSubscriptionFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def reachable_user(provider_server, sms_provider, vapid, browser_keys):
    """A user with email, a browser subscribed to push and a phone, all channels on."""
    user = UserFactory()
    ContactPointFactory(user=user, phone="+4917000000001")
    PushSubscriptionFactory(user=user, endpoint=provider_server.url("/push/1"), **browser_keys())
    for channel in (Channel.PUSH, Channel.SMS):
        preference_set(user=user, kind="event_updated", channel=channel, enabled=True)
    return user


def notify_update(user, key="event:12:updated:v1"):
    return notify(
        kind="event_updated",
        recipients=[user],
        context={"event_title": "Quiz night"},
        dedupe_key=key,
        url="/events/12/",
    )


def test_every_channel_the_recipient_chose_is_delivered_after_commit(
    reachable_user, provider_server, django_capture_on_commit_callbacks, notification_outbox
):
    with django_capture_on_commit_callbacks(execute=True):
        notify_update(reachable_user)
        assert provider_server.requests == [] and mail.outbox == []

    assert notification_outbox.channels_for(reachable_user, kind="event_updated") == {
        "in_app",
        "email",
        "push",
        "sms",
    }
    statuses = Delivery.objects.filter(notification__recipient=reachable_user).values_list(
        "channel", "status"
    )
    assert set(statuses) == {
        (Channel.EMAIL, DeliveryStatus.SENT),
        (Channel.PUSH, DeliveryStatus.SENT),
        (Channel.SMS, DeliveryStatus.SENT),
    }
    assert {request.path for request in provider_server.requests} == {"/push/1", "/sms"}
    assert len(mail.outbox) == 1


def test_the_same_dedupe_key_twice_sends_once_on_every_channel(
    reachable_user, provider_server, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        notify_update(reachable_user)
    with django_capture_on_commit_callbacks(execute=True):
        notify_update(reachable_user)

    assert Delivery.objects.filter(notification__recipient=reachable_user).count() == 3
    assert len(mail.outbox) == 1
    assert len(provider_server.requests) == 2  # one push, one SMS


def test_a_rolled_back_transaction_reaches_no_provider(
    reachable_user, provider_server, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError):
            with transaction.atomic():
                notify_update(reachable_user)
                raise RuntimeError("the event update failed")

    assert not Delivery.objects.exists()
    assert mail.outbox == []
    assert provider_server.requests == []
